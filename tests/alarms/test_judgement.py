"""What a day and an hour are judged on: the corrected value for a corrected-basis limit, both
bounds of a range (pH), the scope of a mark, and the exceedance multiple (超标倍数)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import polars as pl
from sqlalchemy import Engine

from offsite.alarms.daily import daily_values, hourly_exceedances
from offsite.alarms.grading import exceedance_days
from offsite.db import session_factory
from offsite.hj212.times import CST
from offsite.quality.marks import DataMark
from offsite.registry.models import Device, Limit, Outlet, Unit
from offsite.registry.regions import load_anhui
from offsite.store.models import DAY, HOUR
from offsite.store.values import ValueWriter

D = date(2026, 11, 10)
MIDNIGHT = datetime.combine(D, time(), CST)
SO2, NOX, DUST, PH, COD, FLOW = "a21026", "a21002", "a34013", "w01001", "w01018", "w00000"


def _registry(engine: Engine) -> None:
    """Unit 1: a stack (outlet 1) with a gas analyser (device 1: SO2, NOx) and a dust meter
    (device 2), and a wastewater outlet (outlet 2, device 3)."""
    with session_factory(engine)() as session:
        load_anhui(session)
        session.add(
            Unit(id=1, credit_code="913401000000000001", name="甲厂", industry_code="D4411", region_code="340104")
        )
        session.flush()
        session.add(Outlet(id=1, unit_id=1, code="DA001", name="1号烟囱", medium="gas", o2_ref=6.0))
        session.add(Outlet(id=2, unit_id=1, code="DW001", name="废水总排口", medium="water"))
        session.flush()
        for device, outlet in ((1, 1), (2, 1), (3, 2)):
            session.add(Device(id=device, outlet_id=outlet, mn=f"MN000{device}", password_enc=b"-"))
        for outlet, factor, value, lower, basis in (
            (1, SO2, 100.0, None, "corrected"),
            (1, NOX, 200.0, None, "corrected"),
            (1, DUST, 20.0, None, "corrected"),
            (2, PH, 9.0, 6.0, "measured"),
            (2, COD, 110.0, None, "measured"),
        ):
            session.add(
                Limit(
                    outlet_id=outlet,
                    factor=factor,
                    standard="test",
                    value=value,
                    lower=lower,
                    basis=basis,
                    period="day",
                    valid_from=date(2026, 1, 1),
                    source="test",
                )
            )
        session.commit()


def _days(engine: Engine, rows: list[tuple[int, str, float | None, float | None]], day: date = D) -> None:
    """Stored daily values: (device, factor, measured, corrected)."""
    ts = datetime.combine(day, time(), CST).astimezone(UTC)
    values = [
        {"device_id": d, "period": DAY, "factor": f, "ts": ts, "avg": a, "zs_avg": z, "flag": "N", "raw_id": None}
        for d, f, a, z in rows
    ]
    with engine.begin() as conn:
        ValueWriter().interval(conn, values)


def _hours(
    engine: Engine, device: int, factor: str, values: list[float], *, zs: list[float | None] | None = None
) -> None:
    rows = [
        {
            "device_id": device,
            "period": HOUR,
            "factor": factor,
            "ts": (MIDNIGHT + timedelta(hours=h)).astimezone(UTC),
            "avg": v,
            "zs_avg": zs[h] if zs else None,
            "flag": "N",
            "raw_id": None,
        }
        for h, v in enumerate(values)
    ]
    with engine.begin() as conn:
        ValueWriter().interval(conn, rows)


def _mark(
    engine: Engine, *, outlet: int, device: int | None = None, factor: str | None = None, hours: int = 24
) -> None:
    with session_factory(engine)() as session:
        session.add(
            DataMark(
                outlet_id=outlet,
                device_id=device,
                factor=factor,
                kind="maintenance",
                start_at=MIDNIGHT,
                end_at=MIDNIGHT + timedelta(hours=hours),
                reason="维护",
                filed_by="企业",
                filed_at=MIDNIGHT,
                late=False,
                state="approved",
            )
        )
        session.commit()


def _daily(engine: Engine) -> pl.DataFrame:
    with session_factory(engine)() as session:
        return daily_values(engine, session, D, D).sort("outlet", "factor")


def _exceeding(engine: Engine) -> list[str]:
    return sorted(exceedance_days(_daily(engine))["factor"].to_list())


def test_a_corrected_limit_is_judged_on_the_corrected_value_only(engine: Engine) -> None:
    _registry(engine)
    # SO2 with its O2 analyser broken: no corrected value, the raw 60 would have passed as clean;
    # NOx corrected 260 against 200: 0.3 times over
    _days(engine, [(1, SO2, 60.0, None), (1, NOX, 150.0, 260.0)])
    daily = _daily(engine)
    so2 = daily.filter(pl.col("factor") == SO2).row(0, named=True)
    assert (so2["valid"], so2["uncorrected"]) == (False, True)
    nox = daily.filter(pl.col("factor") == NOX).row(0, named=True)
    assert (nox["value"], nox["valid"], round(nox["multiple"], 2), round(nox["ratio"], 2)) == (260.0, True, 0.3, 1.3)
    assert _exceeding(engine) == [NOX]


def test_an_hour_without_its_corrected_value_is_not_judged_against_an_hourly_limit(engine: Engine) -> None:
    _registry(engine)
    with session_factory(engine)() as session:
        session.add(
            Limit(
                outlet_id=1,
                factor=SO2,
                standard="test",
                value=100.0,
                basis="corrected",
                period="hour",
                valid_from=date(2026, 1, 1),
                source="test",
            )
        )
        session.commit()
    corrected: list[float | None] = [150.0, None, 90.0]
    _hours(engine, 1, SO2, [120.0, 130.0, 140.0], zs=corrected)
    with session_factory(engine)() as session:
        found = hourly_exceedances(engine, session, D, D)
    assert found["value"].to_list() == [150.0]  # the raw 130 and 140 stand for nothing
    assert [round(m, 2) for m in found["multiple"].to_list()] == [0.5]


def test_ph_below_the_lower_bound_exceeds_and_has_no_multiple(engine: Engine) -> None:
    _registry(engine)
    _days(engine, [(3, PH, 5.2, None)])
    [row] = exceedance_days(_daily(engine)).iter_rows(named=True)
    assert (row["factor"], row["value"], row["lower"], row["multiple"], row["ratio"]) == (PH, 5.2, 6.0, None, None)


def test_a_limit_with_only_a_lower_bound_is_judged(engine: Engine) -> None:
    _registry(engine)
    with session_factory(engine)() as session:
        session.add(
            Limit(
                outlet_id=2,
                factor="w01010",
                standard="test",
                value=None,
                lower=5.0,
                basis="measured",
                period="day",
                valid_from=date(2026, 1, 1),
                source="test",
            )
        )
        session.commit()
    _days(engine, [(3, "w01010", 4.0, None)])
    assert _exceeding(engine) == ["w01010"]


def _gas_day(engine: Engine) -> None:
    # SO2, NOx and dust all over their limits that day
    _days(engine, [(1, SO2, 100.0, 150.0), (1, NOX, 200.0, 300.0), (2, DUST, 20.0, 30.0)])


def test_a_mark_on_the_dust_meter_factor_leaves_so2_and_nox_counted(engine: Engine) -> None:
    _registry(engine)
    _gas_day(engine)
    _mark(engine, outlet=1, factor=DUST)
    assert _exceeding(engine) == [NOX, SO2]
    assert _daily(engine).filter(pl.col("factor") == DUST)["marked"].to_list() == [True]


def test_a_device_mark_covers_that_device_only_and_an_outlet_mark_all(engine: Engine) -> None:
    _registry(engine)
    _gas_day(engine)
    _mark(engine, outlet=1, device=2)  # the dust meter
    assert _exceeding(engine) == [NOX, SO2]
    _mark(engine, outlet=1)
    assert _exceeding(engine) == []


def test_a_marked_wastewater_day_keeps_flow_weighting_and_never_averages_ph(engine: Engine) -> None:
    _registry(engine)
    # stored days: what the plant's own day was (flow-weighted COD 125, pH's extreme 5.5)
    _days(engine, [(3, COD, 125.0, None), (3, PH, 5.5, None), (3, FLOW, 20.0, None)])
    # hours 0–3 marked; of the 20 left, COD 50 at flow 10 for ten hours and 150 at flow 30 for ten:
    # weighted 125 (over 110), a plain mean would say 100; pH 7.5 but 5.5 in one hour
    cod = [999.0] * 4 + [50.0] * 10 + [150.0] * 10
    flow = [1.0] * 4 + [10.0] * 10 + [30.0] * 10
    ph = [7.0] * 4 + [7.5] * 6 + [5.5] + [7.5] * 13
    _hours(engine, 3, COD, cod)
    _hours(engine, 3, FLOW, flow)
    _hours(engine, 3, PH, ph)
    _mark(engine, outlet=2, hours=4)
    daily = _daily(engine)
    values = dict(zip(daily["factor"].to_list(), daily["value"].to_list(), strict=True))
    assert values[COD] == 125.0
    assert values[PH] == 5.5
    assert daily["marked"].to_list() == [False, False]
    assert _exceeding(engine) == [PH, COD]


def _computed(engine: Engine, device: int, factor: str, hours: dict[int, float], *, expected_per_day: int) -> None:
    """Computed values as quality makes them for a cycle analyser: an hour per measurement
    (each expecting its one record) and the day, expecting ``expected_per_day`` hours."""
    mean = sum(hours.values()) / len(hours)
    common = {"device_id": device, "factor": factor, "corrected": None, "standard": None, "load": None}
    common |= {"bound": None, "bound_corrected": None, "valid": True}
    rows = [
        common | {"period": HOUR, "ts": (MIDNIGHT + timedelta(hours=h)).astimezone(UTC), "value": v}
        for h, v in hours.items()
    ]
    for row in rows:
        row |= {"n_valid": 1, "n_expected": 1}
    rows.append(
        common
        | {"period": DAY, "ts": MIDNIGHT.astimezone(UTC), "value": mean}
        | {"n_valid": len(hours), "n_expected": expected_per_day}
    )
    with engine.begin() as conn:
        ValueWriter().computed(conn, rows)


def _half_hour_mark(engine: Engine) -> None:
    with session_factory(engine)() as session:
        session.add(
            DataMark(
                outlet_id=2,
                kind="maintenance",
                start_at=MIDNIGHT,
                end_at=MIDNIGHT + timedelta(minutes=30),
                reason="取样管清洗",
                filed_by="企业",
                filed_at=MIDNIGHT,
                late=False,
                state="approved",
            )
        )
        session.commit()


def test_a_short_mark_on_a_two_hour_cod_analyser_leaves_its_day_judged(engine: Engine) -> None:
    """12 measurements a day on a 2 h cycle, 9 make a valid day: a 30-minute mark takes one."""
    _registry(engine)
    _computed(engine, 3, COD, dict.fromkeys(range(0, 24, 2), 500.0), expected_per_day=12)
    _half_hour_mark(engine)
    cod = _daily(engine).filter(pl.col("factor") == COD).row(0, named=True)
    assert (cod["value"], cod["marked"], cod["valid"]) == (500.0, False, True)
    assert _exceeding(engine) == [COD]


def test_a_marked_cycle_day_left_below_its_own_need_is_marked(engine: Engine) -> None:
    """Of 12 two-hourly measurements a 7-hour mark takes 4: 8 left, under the 9 a day needs."""
    _registry(engine)
    _computed(engine, 3, COD, dict.fromkeys(range(0, 24, 2), 500.0), expected_per_day=12)
    _mark(engine, outlet=2, hours=7)
    assert _daily(engine).filter(pl.col("factor") == COD)["marked"].to_list() == [True]
    assert _exceeding(engine) == []


def test_an_hourly_cycle_analyser_needs_18_of_24_not_20(engine: Engine) -> None:
    _registry(engine)
    _computed(engine, 3, COD, dict.fromkeys(range(24), 500.0), expected_per_day=24)
    _mark(engine, outlet=2, hours=6)  # 18 hourly measurements left: 75 % of 24
    assert _exceeding(engine) == [COD]


def test_a_device_sent_two_hourly_cod_day_is_judged_by_its_cycle(engine: Engine) -> None:
    _registry(engine)
    _days(engine, [(3, COD, 500.0, None)])
    rows = [
        {
            "device_id": 3,
            "period": HOUR,
            "factor": COD,
            "ts": (MIDNIGHT + timedelta(hours=h)).astimezone(UTC),
            "avg": 500.0,
            "zs_avg": None,
            "flag": "N",
            "raw_id": None,
        }
        for h in range(0, 24, 2)
    ]
    with engine.begin() as conn:
        ValueWriter().interval(conn, rows)
    _half_hour_mark(engine)
    assert _exceeding(engine) == [COD]


def test_a_marked_flue_gas_day_still_needs_20_hours(engine: Engine) -> None:
    _registry(engine)
    _days(engine, [(1, SO2, 100.0, 150.0)])
    _hours(engine, 1, SO2, [100.0] * 24, zs=[150.0] * 24)
    _mark(engine, outlet=1, hours=5)  # 19 left
    assert _daily(engine).filter(pl.col("factor") == SO2)["marked"].to_list() == [True]


def test_a_day_computed_from_the_few_minutes_that_arrived_gives_way_to_the_devices_own(engine: Engine) -> None:
    _registry(engine)
    # the logger's own 2031 COD day (from all its minutes): 500 against 110
    _days(engine, [(3, COD, 500.0, None)])
    # the platform received a morning's minutes only: its day is invalid (3 of 20 hours)
    row = {"device_id": 3, "factor": COD, "period": DAY, "ts": MIDNIGHT.astimezone(UTC), "value": 40.0}
    row |= {"corrected": None, "standard": None, "load": None, "bound": None, "bound_corrected": None}
    row |= {"valid": False, "n_valid": 3, "n_expected": 24}
    with engine.begin() as conn:
        ValueWriter().computed(conn, [row])
    assert _exceeding(engine) == [COD]  # judged on the device's valid day, not left unjudged
