"""Waste incinerators: a day with more than five 5-minute furnace-temperature means below 850 ℃
(MEE Order No. 10) is a violation of its own, stored, and counted as an exceedance only if set."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Engine, select, text

from offsite.alarms.models import Alarm, FurnaceBreach
from offsite.alarms.recompute import recompute
from offsite.db import session_factory
from offsite.hj212.times import CST
from offsite.quality.marks import DataMark
from offsite.registry.models import Device, Outlet, Unit
from offsite.registry.regions import load_anhui
from offsite.settings import Settings
from offsite.store.models import MINUTE
from offsite.store.values import ValueWriter

D = date(2026, 11, 10)
MIDNIGHT = datetime.combine(D, time(), CST)
NOW = MIDNIGHT + timedelta(days=2)


def _incinerator(
    engine: Engine,
    cold_windows: int,
    *,
    factor: str = "a01901",
    standard: str | None = None,
    kept_per_window: int = 5,
) -> None:
    """A furnace at 900 ℃ all day but for ``cold_windows`` 5-minute windows at 800 ℃ from 08:00,
    sent as ``factor``; of each cold window only the first ``kept_per_window`` minutes are valid."""
    with session_factory(engine)() as session:
        load_anhui(session)
        session.add(
            Unit(id=1, credit_code="913401000000000001", name="焚烧厂", industry_code="D4417", region_code="340104")
        )
        session.flush()
        session.add(
            Outlet(id=1, unit_id=1, code="DA001", name="1号焚烧炉", medium="gas", o2_ref=11.0, standard=standard)
        )
        session.flush()
        session.add(Device(id=1, outlet_id=1, mn="MN0001", password_enc=b"-", factors="a01901,a01902,a21026"))
        session.commit()
    _minutes(engine, factor, cold_windows, kept_per_window)


def _minutes(engine: Engine, factor: str, cold_windows: int, kept_per_window: int = 5) -> None:
    cold = {MIDNIGHT + timedelta(hours=8, minutes=m): m % 5 < kept_per_window for m in range(5 * cold_windows)}
    rows = []
    for m in range(0, 24 * 60):
        at = MIDNIGHT + timedelta(minutes=m)
        rows.append(
            {
                "device_id": 1,
                "period": MINUTE,
                "factor": factor,
                "ts": at.astimezone(UTC),
                "avg": 800.0 if at in cold else 900.0,
                "zs_avg": None,
                "flag": "N" if cold.get(at, True) else "D",
                "raw_id": None,
            }
        )
    with engine.begin() as conn:
        ValueWriter().interval(conn, rows)


def _breaches(engine: Engine) -> list[tuple[date, str, int, float, bool]]:
    with session_factory(engine)() as session:
        return [
            (b.day, b.factor, b.below, b.lowest, b.marked)
            for b in session.scalars(select(FurnaceBreach).order_by(FurnaceBreach.day))
        ]


def _alarms(engine: Engine) -> list[str]:
    with session_factory(engine)() as session:
        return [a.level for a in session.scalars(select(Alarm))]


def test_more_than_five_cold_windows_are_a_breach_not_an_exceedance_by_default(engine: Engine) -> None:
    _incinerator(engine, cold_windows=6)
    outcome = recompute(engine, D, D, settings=Settings(), now=NOW, trigger="manual")
    assert _breaches(engine) == [(D, "a01901", 6, 800.0, False)]
    assert outcome.furnace == 1
    assert _alarms(engine) == []


def test_five_cold_windows_are_allowed(engine: Engine) -> None:
    _incinerator(engine, cold_windows=5)
    recompute(engine, D, D, settings=Settings(), now=NOW, trigger="manual")
    assert _breaches(engine) == []


def test_a_breach_counts_toward_grading_when_configured(engine: Engine) -> None:
    _incinerator(engine, cold_windows=6)
    recompute(engine, D, D, settings=Settings(furnace_counts_toward_grading=True), now=NOW, trigger="manual")
    assert _alarms(engine) == ["blue"]


def _mark(engine: Engine, kind: str, start: datetime, end: datetime) -> None:
    with session_factory(engine)() as session:
        session.add(
            DataMark(
                outlet_id=1,
                kind=kind,
                start_at=start,
                end_at=end,
                reason="-",
                filed_by="企业",
                filed_at=start,
                late=False,
                state="approved",
            )
        )
        session.commit()


def test_windows_inside_a_start_up_mark_do_not_count(engine: Engine) -> None:
    _incinerator(engine, cold_windows=6)
    _mark(engine, "startup", MIDNIGHT + timedelta(hours=8), MIDNIGHT + timedelta(hours=8, minutes=10))
    recompute(engine, D, D, settings=Settings(furnace_counts_toward_grading=True), now=NOW, trigger="manual")
    # two windows marked, four left: kept as evidence, not a breach, not counted
    assert _breaches(engine) == [(D, "a01901", 6, 800.0, True)]
    assert _alarms(engine) == []


def test_a_calibration_of_the_cems_does_not_excuse_a_cold_furnace(engine: Engine) -> None:
    _incinerator(engine, cold_windows=6)
    # a device mark (设备标记) at the outlet: the analysers were calibrated, the furnace still ran cold
    _mark(engine, "calibration", MIDNIGHT + timedelta(hours=8), MIDNIGHT + timedelta(hours=9))
    recompute(engine, D, D, settings=Settings(), now=NOW, trigger="manual")
    assert _breaches(engine) == [(D, "a01901", 6, 800.0, False)]


def test_the_dcs_reading_counts_only_where_the_thermocouple_mean_is_absent(engine: Engine) -> None:
    _incinerator(engine, cold_windows=0)  # the thermocouples' mean: 900 ℃ all day
    _minutes(engine, "a01902", cold_windows=6)  # the DCS reads cold
    recompute(engine, D, D, settings=Settings(), now=NOW, trigger="manual")
    assert _breaches(engine) == []
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM interval_value WHERE factor = 'a01901'"))
    recompute(engine, D, D, settings=Settings(), now=NOW, trigger="manual")
    assert _breaches(engine) == [(D, "a01902", 6, 800.0, False)]


def test_a_window_needs_three_valid_minutes_for_a_mean(engine: Engine) -> None:
    _incinerator(engine, cold_windows=6, kept_per_window=2)
    recompute(engine, D, D, settings=Settings(), now=NOW, trigger="manual")
    assert _breaches(engine) == []
    recompute(engine, D, D, settings=Settings(furnace_min_records=2), now=NOW, trigger="manual")
    assert _breaches(engine) == [(D, "a01901", 6, 800.0, False)]


def test_a_fault_beyond_the_years_sixty_hours_does_not_excuse_the_furnace(engine: Engine) -> None:
    _incinerator(engine, cold_windows=6, standard="GB18485-2014-day")
    year = datetime(D.year, 1, 1, tzinfo=CST)
    _mark(engine, "startup", year, year + timedelta(hours=60))  # the year's 60 h used up in January [R]
    _mark(engine, "fault", MIDNIGHT + timedelta(hours=8), MIDNIGHT + timedelta(hours=9))
    recompute(engine, D, D, settings=Settings(mark_caps_enforced=False), now=NOW, trigger="manual")
    assert _breaches(engine) == [(D, "a01901", 6, 800.0, True)]
    recompute(engine, D, D, settings=Settings(), now=NOW, trigger="manual")
    assert _breaches(engine) == [(D, "a01901", 6, 800.0, False)]
