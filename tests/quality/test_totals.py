"""Emission totals from computed daily loads against permit caps imported from a CSV sheet."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from offsite.cli import app
from offsite.db import session_factory
from offsite.hj212.times import CST
from offsite.quality.marks import DataMark
from offsite.quality.rules import Rules
from offsite.quality.totals import STOP_SCHEMA, emission_totals, substitute
from offsite.registry.models import Device, Outlet, Unit
from offsite.registry.regions import load_anhui
from offsite.store.models import DAY, HOUR
from offsite.store.values import ValueWriter

runner = CliRunner()
CREDIT = "91340100000000000D"


def day_load(device: int, factor: str, day: date, kg: float) -> dict[str, object]:
    ts = datetime.combine(day, time(), CST).astimezone(UTC)
    return {
        "device_id": device,
        "period": DAY,
        "factor": factor,
        "ts": ts,
        "value": 1.0,
        "corrected": None,
        "standard": None,
        "load": kg,
        "valid": True,
        "n_valid": 24,
    }


def test_month_and_year_totals_against_unit_and_outlet_caps(database_url: str, engine: Engine, tmp_path: Path) -> None:
    with session_factory(engine)() as session:
        load_anhui(session)
        session.add(Unit(id=1, credit_code=CREDIT, name="甲厂", industry_code="D4411", region_code="340104"))
        session.flush()
        session.add_all(
            [
                Outlet(id=1, unit_id=1, code="DA001", name="1号烟囱", medium="gas"),
                Outlet(id=2, unit_id=1, code="DA002", name="2号烟囱", medium="gas"),
            ]
        )
        session.flush()
        session.add_all(
            [
                Device(id=1, outlet_id=1, mn="MN1", password_enc=b"-"),
                Device(id=2, outlet_id=2, mn="MN2", password_enc=b"-"),
            ]
        )
        session.commit()
    rows = [day_load(1, "a21026", date(2026, 10, 31), 200.0)]
    for d in (1, 2, 3):
        rows += [
            day_load(1, "a21026", date(2026, 11, d), 100.0),
            day_load(2, "a21026", date(2026, 11, d), 50.0),
            day_load(1, "a21002", date(2026, 11, d), 10.0),
        ]
    with engine.begin() as conn:
        ValueWriter().computed(conn, rows)
    permits = tmp_path / "permits.csv"
    header = "统一社会信用代码,排放口编号,因子编码,周期,许可排放量(吨),排污许可证编号,生效日期\n"
    good = (
        f"{CREDIT},,a21026,年,1,91340100MA0001,2026-01-01\n"
        f"{CREDIT},,a21026,月,0.4,91340100MA0001,2026-01-01\n"
        f"{CREDIT},DA002,a21026,日,0.04,91340100MA0001,2026-01-01\n"
    )
    permits.write_text(header + good + f"{CREDIT},DA009,a21026,日,0.04,91340100MA0001,2026-01-01\n", encoding="utf-8")
    imported = runner.invoke(app, ["registry", "import", str(permits), "--database-url", database_url])
    assert imported.exit_code == 1  # DA009 is no outlet of the unit: the whole file is refused
    assert "DA009" in imported.stderr
    before = runner.invoke(app, ["emissions", "--month", "2026-11", "--over", "--json", "--database-url", database_url])
    assert json.loads(before.stdout) == []  # no caps stored, nothing over
    permits.write_text(header + good, encoding="utf-8")
    assert runner.invoke(app, ["registry", "import", str(permits), "--database-url", database_url]).exit_code == 0
    result = runner.invoke(app, ["emissions", "--month", "2026-11", "--json", "--database-url", database_url])
    assert result.exit_code == 0, result.output
    got = {(r["factor"], r["outlet"]): r for r in json.loads(result.stdout)}
    assert set(got) == {("a21002", None), ("a21026", None), ("a21026", 2)}
    unit = got["a21026", None]
    # November: 3 days × (100 + 50) = 450 kg > the 400 kg month cap; with 31 October's 200 kg the
    # year to date is 650 kg, under the 1,000 kg year cap
    assert (unit["month_kg"], unit["year_kg"], unit["max_day_kg"]) == (450.0, 650.0, 150.0)
    assert (unit["month_cap_kg"], unit["year_cap_kg"], unit["over"]) == (400.0, 1000.0, True)
    outlet = got["a21026", 2]
    # DA002: 50 kg each day over its 40 kg day cap, three days
    assert (outlet["month_kg"], outlet["day_cap_kg"], outlet["days_over"], outlet["over"]) == (150.0, 40.0, 3, True)
    nox = got["a21002", None]
    assert (nox["month_kg"], nox["month_cap_kg"], nox["over"]) == (30.0, None, False)
    only_over = runner.invoke(
        app, ["emissions", "--month", "2026-11", "--over", "--json", "--database-url", database_url]
    )
    assert len(json.loads(only_over.stdout)) == 2
    bad = runner.invoke(app, ["emissions", "--month", "11/2026", "--database-url", database_url])
    assert bad.exit_code == 2


def hour_rows(loads: list[float | None], valid: list[bool] | None = None, skip: set[int] | None = None) -> pl.DataFrame:
    start = datetime(2026, 11, 1, tzinfo=CST).astimezone(UTC)
    marks = valid or [True] * len(loads)
    rows = [
        (1, "a21026", start + timedelta(hours=h), load, ok)
        for h, (load, ok) in enumerate(zip(loads, marks, strict=True))
        if h not in (skip or set())
    ]
    return pl.DataFrame(
        rows,
        schema={
            "device_id": pl.Int64,
            "factor": pl.String,
            "ts": pl.Datetime("us", "UTC"),
            "load": pl.Float64,
            "valid": pl.Boolean,
        },
        orient="row",
    )


def filling(**rules: Any) -> Rules:
    """The capture-rate bands out of the way, for tests of how a gap is filled on a few hours."""
    return Rules(substitution_min_capture=0.0, substitution_full_capture=0.0, **rules)


FILL = filling()
NOVEMBER = date(2026, 11, 1)


def test_missing_and_invalid_hours_are_substituted_and_marked() -> None:
    # hour 2 invalid (its load 99 is not trusted), hour 3 absent, hours 0-1 and 4-5 valid
    hours = substitute(
        hour_rows([10.0, 20.0, 99.0, 0.0, 40.0, 50.0], [True, True, False, True, True, True], {3}),
        FILL,
    )
    assert hours["status"].to_list() == ["valid", "valid", "substituted", "substituted", "valid", "valid"]
    # the mean of the valid hours before (20) and after (40) the gap
    assert hours["load"].to_list() == [10.0, 20.0, 30.0, 30.0, 40.0, 50.0]
    assert hours["measured"].to_list() == [10.0, 20.0, None, None, 40.0, 50.0]
    assert hours["substituted"].sum() == 2
    # a gap longer than the short-gap bound takes the largest valid hour before it
    long_gap = substitute(hour_rows([10.0, 30.0, 20.0] + [None] * 3 + [5.0]), filling(substitution_max_gap_h=2))
    assert long_gap["load"].to_list() == [10.0, 30.0, 20.0, 30.0, 30.0, 30.0, 5.0]
    # configurable: none leaves the gap missing
    bare = substitute(hour_rows([10.0, None, 30.0]), filling(substitution="none"))
    assert bare["status"].to_list() == ["valid", "missing", "valid"]
    assert bare["load"].to_list() == [10.0, None, 30.0]
    with pytest.raises(ValueError, match="substitution 'guess'"):
        substitute(hour_rows([1.0]), Rules(substitution="guess"))


def test_a_month_total_says_what_it_covers(database_url: str, engine: Engine) -> None:
    with session_factory(engine)() as session:
        load_anhui(session)
        session.add(Unit(id=1, credit_code=CREDIT, name="甲厂", industry_code="D4411", region_code="340104"))
        session.flush()
        session.add(Outlet(id=1, unit_id=1, code="DA001", name="1号烟囱", medium="gas"))
        session.flush()
        session.add(Device(id=1, outlet_id=1, mn="MN1", password_enc=b"-"))
        session.commit()
    start = datetime(2026, 11, 1, tzinfo=CST).astimezone(UTC)
    rows = []
    for h in range(24):
        if h in (5, 6):  # two hours never computed (no minutes): substituted by (10 + 10) / 2
            continue
        rows.append(
            {
                "device_id": 1,
                "period": HOUR,
                "factor": "a21026",
                "ts": start + timedelta(hours=h),
                "value": 50.0,
                "corrected": None,
                "standard": None,
                "load": 10.0 if h != 7 else 99.0,
                "valid": h != 7,  # hour 7 invalid: its 99 kg is replaced too
                "n_valid": 60 if h != 7 else 10,
            }
        )
    with engine.begin() as conn:
        ValueWriter().computed(conn, rows)
    with session_factory(engine)() as session:
        totals = emission_totals(engine, session, date(2026, 11, 1), FILL)
    row = totals.row(0, named=True)
    # 21 valid hours × 10 kg + 3 substituted × 10 kg = 240 kg; without substitution 210 kg
    assert (row["month_kg"], row["measured_month_kg"]) == (240.0, 210.0)
    # the 696 hours after the last valid one are missing: every hour of November is counted once
    counts = (row["hours_valid"], row["hours_substituted"], row["hours_missing"], row["substituted"])
    assert counts == (21, 3, 696, True)


def test_a_stopped_plant_is_not_filled_with_invented_emissions() -> None:
    # 15 valid hours, a 72 h shut-down with the logger off (no rows), 15 valid hours again
    loads = [1.25] * 15 + [None] * 72 + [1.25] * 15
    rows = hour_rows(loads, skip=set(range(15, 87)))
    start = datetime(2026, 11, 1, tzinfo=CST).astimezone(UTC)
    stop = pl.DataFrame(
        [(1, None, start + timedelta(hours=15), start + timedelta(hours=87))], schema=STOP_SCHEMA, orient="row"
    )
    hours = substitute(rows, Rules(), stop)
    assert hours.filter(pl.col("status") == "stopped").height == 72
    assert hours["substituted"].sum() == 0  # today: 72 substituted hours
    assert hours["load"].sum() == pytest.approx(30 * 1.25)  # the measured 37.5 kg, nothing invented
    # a stop mark of another factor stops nothing here
    other = stop.with_columns(pl.lit("a21002").alias("factor"))
    assert substitute(rows, FILL, other)["substituted"].sum() == 72


def test_an_hour_of_valid_zero_flow_is_stopped_not_substituted() -> None:
    rows = hour_rows([10.0, None, 10.0], [True, False, True]).with_columns(pl.lit(50.0).alias("value"))
    flow = rows.with_columns(
        pl.lit("a00000").alias("factor"),
        pl.lit(0.0).alias("value"),
        pl.lit(None, pl.Float64).alias("load"),
        pl.lit(value=True).alias("valid"),
    )
    hours = substitute(pl.concat([rows, flow[1:2]]), Rules())
    assert hours["status"].to_list() == ["valid", "stopped", "valid"]
    assert hours["load"].to_list() == [10.0, 0.0, 10.0]


def test_previous_max_looks_back_over_valid_hours_not_clock_hours() -> None:
    # lookback 3 valid hours: 100 valid, 5 h gap, 10 valid, 3 h gap, 5 valid
    loads = [100.0, *[None] * 5, 10.0, *[None] * 3, 5.0]
    hours = substitute(hour_rows(loads), filling(substitution="previous_max", substitution_lookback_h=3))
    # the second gap's last 3 valid hours are 100 and 10: 100 (today: 10, the 100 is 7 clock hours back)
    assert hours["load"].to_list()[7:10] == [100.0, 100.0, 100.0]


def test_stop_marks_and_stopped_units_count_as_stopped_hours(database_url: str, engine: Engine) -> None:
    with session_factory(engine)() as session:
        load_anhui(session)
        session.add(Unit(id=1, credit_code=CREDIT, name="甲厂", industry_code="D4411", region_code="340104"))
        session.flush()
        session.add(Outlet(id=1, unit_id=1, code="DA001", name="1号烟囱", medium="gas"))
        session.flush()
        session.add(Device(id=1, outlet_id=1, mn="MN1", password_enc=b"-"))
        session.commit()
    start = datetime(2026, 11, 1, tzinfo=CST).astimezone(UTC)
    rows = [
        {"device_id": 1, "period": HOUR, "factor": "a21026", "ts": start + timedelta(hours=h)}
        | {"value": 50.0, "corrected": None, "standard": None, "load": 2.0, "valid": True, "n_valid": 60}
        for h in (*range(10), *range(20, 24))
    ]
    with engine.begin() as conn:
        ValueWriter().computed(conn, rows)
    with session_factory(engine)() as session:
        session.add(
            DataMark(
                outlet_id=1,
                kind="stopped",
                start_at=start + timedelta(hours=10),
                end_at=start + timedelta(hours=20),
                reason="检修停炉",
                filed_by="甲厂",
                filed_at=start,
                late=False,
                state="pending",
            )
        )
        session.commit()
        pending = emission_totals(engine, session, NOVEMBER, FILL, takes_effect="approved").row(0, named=True)
        # a pending mark is not in effect: 10 hours substituted at (2 + 2) / 2
        assert (pending["hours_substituted"], pending["hours_stopped"], pending["month_kg"]) == (10, 0, 48.0)
        filed = emission_totals(engine, session, NOVEMBER, FILL, takes_effect="filed").row(0, named=True)
        assert (filed["hours_substituted"], filed["hours_stopped"], filed["month_kg"]) == (0, 10, 28.0)
        session.query(DataMark).delete()
        session.query(Unit).update({"status": "stopped"})
        session.commit()
        closed = emission_totals(engine, session, date(2026, 11, 1)).row(0, named=True)
        # declared stopped: every hour of November without a valid one is stopped
        assert (closed["hours_valid"], closed["hours_stopped"], closed["month_kg"]) == (14, 706, 28.0)


def plant(engine: Engine, units: int = 1) -> None:
    with session_factory(engine)() as session:
        load_anhui(session)
        for u in range(1, units + 1):
            code = CREDIT[:-2] + f"{u:02d}"
            session.add(Unit(id=u, credit_code=code, name=f"厂{u}", industry_code="D4411", region_code="340104"))
            session.flush()
            session.add(Outlet(id=u, unit_id=u, code="DA001", name="1号烟囱", medium="gas"))
            session.flush()
            session.add(Device(id=u, outlet_id=u, mn=f"MN{u}", password_enc=b"-"))
        session.commit()


def upload(device: int, factor: str, hour: int, avg: float, cou: float | None, *, flag: str = "N") -> dict[str, object]:
    ts = datetime(2026, 12, 1, tzinfo=CST).astimezone(UTC) + timedelta(hours=hour)
    return {"device_id": device, "period": HOUR, "factor": factor, "ts": ts, "avg": avg, "cou": cou, "flag": flag}


def test_hourly_uploads_carry_the_loads_and_every_hour_of_the_period_is_counted_once(engine: Engine) -> None:
    plant(engine, units=2)
    # unit 1: the logger's hourly data (2061) for the first 48 hours of December, as the demo sends
    # them; the platform computed one hour (hour 5) from the minutes it received
    rows = [upload(1, "a21026", h, 50.0, 2.0) for h in range(48) if h != 10]
    rows += [upload(1, "a21026", 10, 50.0, 9.0, flag="D")]  # invalid: not counted, substituted
    rows += [upload(1, "a00000", h, 40.0, 40.0 * 3600) for h in range(48)]
    # hour 20 sent no Cou for NOx: its mean × the hour's flow volume, 100 mg/m³ × 144,000 m³ = 14.4 kg
    rows += [upload(1, "a21002", 20, 100.0, None)]
    with engine.begin() as conn:
        ValueWriter().interval(conn, rows)
        computed_hour = {
            "device_id": 1,
            "period": HOUR,
            "factor": "a21026",
            "ts": datetime(2026, 12, 1, 5, tzinfo=CST).astimezone(UTC),
            "value": 60.0,
            "corrected": None,
            "standard": None,
            "load": 3.0,
            "valid": True,
            "n_valid": 60,
        }
        # unit 2: two valid computed hours a day apart: far too few to fill the 22 hours between
        first = datetime(2026, 12, 1, 5, tzinfo=CST).astimezone(UTC)
        sparse = [{**computed_hour, "device_id": 2, "ts": first + timedelta(hours=h)} for h in (0, 23)]
        ValueWriter().computed(conn, [computed_hour, *sparse])
    now = datetime(2026, 12, 3, 3, 30, tzinfo=CST)  # 51 whole hours of December have passed
    with session_factory(engine)() as session:
        totals = emission_totals(engine, session, date(2026, 12, 1), now=now)
    got = {(r["unit"], r["factor"]): r for r in totals.to_dicts()}
    assert set(got) == {(1, "a21026"), (1, "a21002"), (2, "a21026")}
    so2 = got[1, "a21026"]
    # 46 uploads × 2 kg + the computed hour's 3 kg (not its upload's 2) = 95 kg; hour 10 substituted
    # by (2 + 2) / 2 (capture 47 of 51 hours, over 90 %)
    assert (so2["measured_month_kg"], so2["month_kg"]) == (95.0, 97.0)
    assert (so2["hours_valid"], so2["hours_substituted"], so2["hours_stopped"], so2["hours_missing"]) == (47, 1, 0, 3)
    assert got[1, "a21002"]["month_kg"] == pytest.approx(14.4)
    sparse_unit = got[2, "a21026"]
    assert (sparse_unit["hours_valid"], sparse_unit["hours_substituted"], sparse_unit["month_kg"]) == (2, 0, 6.0)
    for row in totals.to_dicts():
        counted = row["hours_valid"] + row["hours_substituted"] + row["hours_stopped"] + row["hours_missing"]
        assert counted == row["hours_in_period"] == 51
