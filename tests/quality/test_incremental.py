"""Aggregation on the database: noted hours recomputed from stored minutes, then their day."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import polars as pl
import pytest
from sqlalchemy import Engine, func, select, update
from typer.testing import CliRunner

from offsite.alarms.models import Alarm
from offsite.alarms.recompute import recompute_pending
from offsite.cli import app
from offsite.hj212.times import CST
from offsite.quality import incremental
from offsite.quality.incremental import aggregate_pending, aggregate_window
from offsite.registry.models import Device, Limit, Outlet
from offsite.settings import Settings
from offsite.store.models import DAY, HOUR, MINUTE, PendingHour
from offsite.store.series import read_computed
from offsite.store.values import ValueWriter
from tests.alarms.test_cli_alarms import plant_with_daily_values

DAY0 = date(2026, 11, 20)
START = datetime.combine(DAY0, time(), CST).astimezone(UTC)


def minutes(engine: Engine, first_hour: int, hours: int, so2: float, flag: str = "N") -> None:
    rows = []
    for m in range(first_hour * 60, (first_hour + hours) * 60):
        ts = START + timedelta(minutes=m)
        for factor, value in (("a21026", so2), ("a19001", 9.0)):
            rows.append({"device_id": 1, "period": MINUTE, "factor": factor, "ts": ts, "avg": value, "flag": flag})
    with engine.begin() as conn:
        ValueWriter().interval(conn, rows)


def computed(engine: Engine, period: int) -> pl.DataFrame:
    return read_computed(engine, [1], START, START + timedelta(days=1), period=period).filter(
        pl.col("factor") == "a21026"
    )


def pending(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(PendingHour)).scalar_one()


def test_noted_hours_then_a_late_minute_recompute_the_hour_and_its_day(database_url: str, engine: Engine) -> None:
    plant_with_daily_values(database_url, {})
    minutes(engine, 0, 24, so2=40.0)
    assert pending(engine) == 24
    done = aggregate_pending(engine, now=START + timedelta(days=1, minutes=5))
    assert (done.hours, done.first_day, done.last_day) == (2 * 24, DAY0, DAY0)  # SO2 and O2 hours
    assert pending(engine) == 0
    hours = computed(engine, HOUR)
    assert hours.height == 24
    assert hours["valid"].all()
    day = computed(engine, DAY).row(0, named=True)
    # 24 valid hours of 40; corrected 40 × (21 − 6)/(21 − 9) = 50
    assert (day["value"], day["corrected"], day["n_valid"], day["valid"]) == (40.0, 50.0, 24, True)

    minutes(engine, 3, 1, so2=100.0)  # hour 3 resent later with other values
    assert pending(engine) == 1
    done = aggregate_pending(engine, now=START + timedelta(days=2))
    assert (done.hours, done.days) == (2, 2)
    assert computed(engine, HOUR).filter(pl.col("ts") == START + timedelta(hours=3))["value"].to_list() == [100.0]
    day = computed(engine, DAY).row(0, named=True)
    # (23 × 40 + 100) / 24 = 42.5; corrected 42.5 × 15/12 = 53.125
    assert day["value"] == pytest.approx(42.5)
    assert day["corrected"] == pytest.approx(53.125)


def test_an_hour_still_open_waits(database_url: str, engine: Engine) -> None:
    plant_with_daily_values(database_url, {})
    minutes(engine, 5, 1, so2=40.0)
    done = aggregate_pending(engine, now=START + timedelta(hours=5, minutes=59))
    assert done.hours == 0
    assert pending(engine) == 1
    assert aggregate_pending(engine, now=START + timedelta(hours=6)).hours == 2


def test_a_minute_written_while_the_hour_is_computed_is_not_forgotten(
    database_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    plant_with_daily_values(database_url, {})
    minutes(engine, 0, 1, so2=40.0)
    read = incremental.read_interval
    wrote: list[bool] = []

    def read_then_a_late_minute_lands(*args: object, **kwargs: object) -> pl.DataFrame:
        frame = read(*args, **kwargs)  # type: ignore[arg-type]
        if not wrote:
            wrote.append(True)
            minutes(engine, 0, 1, so2=41.0)  # the same hour noted again while it is worked on
        return frame

    monkeypatch.setattr(incremental, "read_interval", read_then_a_late_minute_lands)
    aggregate_pending(engine, now=START + timedelta(hours=2))
    assert pending(engine) == 1  # the note written meanwhile survives
    aggregate_pending(engine, now=START + timedelta(hours=2))
    assert pending(engine) == 0
    assert computed(engine, HOUR)["value"].to_list() == [41.0]


def test_window_recomputes_every_hour_of_its_days(database_url: str, engine: Engine) -> None:
    plant_with_daily_values(database_url, {})
    minutes(engine, 0, 19, so2=40.0)
    minutes(engine, 19, 5, so2=40.0, flag="D")  # 5 hours of a fault: the day has 19 valid hours
    done = aggregate_window(engine, DAY0, DAY0)
    assert (done.hours, done.days) == (48, 2)
    day = computed(engine, DAY).row(0, named=True)
    assert (day["n_valid"], day["valid"]) == (19, False)


def test_the_reference_o2_comes_from_the_outlets_standard_unless_it_overrides(
    database_url: str, engine: Engine
) -> None:

    plant_with_daily_values(database_url, {})
    with engine.begin() as conn:  # no own reference O2; a gas turbine's standard corrects to 15 %
        conn.execute(update(Outlet).values(o2_ref=None, standard="GB13223-2011-gas-turbine"))
        conn.execute(update(Device).values(minute_interval_s=600))
    minutes(engine, 0, 1, so2=40.0)
    aggregate_pending(engine, now=START + timedelta(hours=2))
    hour = computed(engine, HOUR).row(0, named=True)
    # 40 × (21 − 15) / (21 − 9) = 20 (today: no reference, no corrected value)
    assert hour["corrected"] == pytest.approx(20.0)
    # declared 10-minute interval: the hour expects 6 records (60 came: valid)
    assert (hour["n_expected"], hour["valid"]) == (6, True)
    with engine.begin() as conn:
        conn.execute(update(Outlet).values(o2_ref=6.0))
    aggregate_window(engine, DAY0, DAY0)
    # the outlet's own 6 % overrides: 40 × 15 / 12 = 50
    assert computed(engine, HOUR).row(0, named=True)["corrected"] == pytest.approx(50.0)


def test_aggregate_from_says_which_interval_judged_the_devices(database_url: str, engine: Engine) -> None:
    plant_with_daily_values(database_url, {})
    minutes(engine, 0, 2, so2=40.0)
    done = CliRunner().invoke(
        app, ["aggregate", "--from", DAY0.isoformat(), "--to", DAY0.isoformat(), "--database-url", database_url]
    )
    assert done.exit_code == 0, done.output
    assert "minute-data interval: 60 s inferred 1 device" in done.output


def so2_at(engine: Engine, hour: int, at_minutes: list[int], so2: float) -> None:
    rows = [
        {"device_id": 1, "period": MINUTE, "factor": "a21026", "ts": START + timedelta(hours=hour, minutes=m)}
        | {"avg": so2, "flag": "N"}
        for m in at_minutes
    ]
    with engine.begin() as conn:
        ValueWriter().interval(conn, rows)


def hour_row(engine: Engine, hour: int) -> dict[str, object]:
    return computed(engine, HOUR).filter(pl.col("ts") == START + timedelta(hours=hour)).row(0, named=True)


def test_an_hour_noted_alone_does_not_measure_its_own_sparse_spacing(database_url: str, engine: Engine) -> None:
    # the attacker's ins4.py: a full one-minute hour, aggregated; then hours sent on their own
    plant_with_daily_values(database_url, {})
    so2_at(engine, 0, list(range(60)), 100.0)
    aggregate_pending(engine, now=START + timedelta(hours=2))
    assert hour_row(engine, 0)["valid"]
    so2_at(engine, 1, [0, 30], 150.0)  # two records: today valid, n_valid 2 of n_expected 2
    done = aggregate_pending(engine, now=START + timedelta(hours=3))
    hour = hour_row(engine, 1)
    assert (hour["valid"], hour["n_expected"]) == (False, 60)
    assert ("1", 60, "inferred") in done.intervals
    so2_at(engine, 2, list(range(0, 60, 10)), 150.0)  # six records ten minutes apart
    aggregate_pending(engine, now=START + timedelta(hours=4))
    hour = hour_row(engine, 2)
    # the device's fullest recent hour says one minute: 6 of 60 (today: 6 of 6, valid)
    assert (hour["valid"], hour["n_valid"], hour["n_expected"]) == (False, 6, 60)


def test_a_sparse_device_with_no_history_is_judged_at_the_longest_inferred_interval(
    database_url: str, engine: Engine
) -> None:
    plant_with_daily_values(database_url, {})
    so2_at(engine, 1, [0, 30], 150.0)
    done = aggregate_pending(engine, now=START + timedelta(hours=3))
    hour = hour_row(engine, 1)
    assert (hour["valid"], hour["n_valid"], hour["n_expected"]) == (False, 2, 6)
    assert ("1", 600, "capped") in done.intervals
    with engine.begin() as conn:  # a logger that does send every 30 minutes declares it
        conn.execute(update(Device).values(minute_interval_s=1800))
    aggregate_window(engine, DAY0, DAY0)
    assert (hour_row(engine, 1)["valid"], hour_row(engine, 1)["n_expected"]) == (True, 2)


def test_hours_at_o2_too_high_to_correct_bound_the_corrected_day(database_url: str, engine: Engine) -> None:
    # the attacker's ins2.py: SO2 150 at the reference O2 (10 %) for hours 0–19, then SO2 600 at
    # O2 20.6 % (no correction possible at ≥ 19.5 %) for hours 20–23; limit 200 on the corrected value
    plant_with_daily_values(database_url, {})
    with engine.begin() as conn:
        conn.execute(update(Outlet).values(o2_ref=10.0))
        conn.execute(update(Limit).values(value=200.0))
    rows = []
    for h in range(24):
        for m in range(0, 60, 10):
            ts = START + timedelta(hours=h, minutes=m)
            for factor, value in (("a21026", 600.0 if h >= 20 else 150.0), ("a19001", 20.6 if h >= 20 else 10.0)):
                rows.append({"device_id": 1, "period": MINUTE, "factor": factor, "ts": ts, "avg": value, "flag": "N"})
    with engine.begin() as conn:
        ValueWriter().interval(conn, rows)
    outcome = recompute_pending(engine, settings=Settings(database_url=database_url), now=START + timedelta(days=1))
    day = computed(engine, DAY).row(0, named=True)
    # value (20 × 150 + 4 × 600)/24 = 225; corrected over the 20 correctable hours alone: 150
    assert (day["value"], day["corrected"]) == (pytest.approx(225.0), pytest.approx(150.0))
    # the 4 hours' measured 600 is a lower bound of their corrected value (factor 11/0.4 > 1)
    assert day["bound_corrected"] == pytest.approx(225.0)
    assert hour_row(engine, 20)["bound_corrected"] == pytest.approx(600.0)
    assert outcome is not None
    with engine.connect() as conn:
        alarm = conn.execute(select(Alarm.level, Alarm.value, Alarm.limit)).one()
    assert (alarm.level, alarm.value, alarm.limit) == ("blue", pytest.approx(225.0), 200.0)  # today: no alarm


def test_an_hour_without_o2_gives_no_bound(database_url: str, engine: Engine) -> None:
    plant_with_daily_values(database_url, {})
    so2_at(engine, 0, list(range(60)), 300.0)  # no O2 sent: neither corrected nor bounded
    aggregate_pending(engine, now=START + timedelta(hours=2))
    hour = hour_row(engine, 0)
    assert (hour["corrected"], hour["bound_corrected"]) == (None, None)
