"""Minute → hour → day, checked against values worked out by hand (working beside each number)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from offsite.cli import app
from offsite.quality.aggregate import BadInput, Outlet, aggregate, read_minutes
from offsite.quality.rules import Rules

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 29, tzinfo=CST)


def frame(rows: list[tuple[str, str, int, float | None, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        [(mn, f, T0 + timedelta(minutes=m), v, flag) for mn, f, m, v, flag in rows],
        schema={
            "mn": pl.String,
            "factor": pl.String,
            "time": pl.Datetime("us", "UTC"),
            "value": pl.Float64,
            "flag": pl.String,
        },
        orient="row",
    )


def value(result: pl.DataFrame, factor: str, period: str, hour: int = 0) -> dict[str, object]:
    start = T0 + timedelta(hours=hour) if period == "hour" else T0
    utc = result.with_columns(pl.col("time").dt.convert_time_zone("UTC"))
    chosen = utc.filter((pl.col("factor") == factor) & (pl.col("period") == period) & (pl.col("time") == start))
    return chosen.row(0, named=True)


def test_flue_gas_hours_validity_and_correction() -> None:
    rows = []
    for m in range(60):  # hour 0: SO2 30 for 10 M minutes then 20 N minutes at 30, 30 at 36; O2 9 %
        rows.append(("G", "a21026", m, 30.0 if m < 30 else 36.0, "M" if m < 10 else "N"))
        rows.append(("G", "a19001", m, 9.0, "N"))
    for m in range(60, 120):  # hour 1: only 44 N minutes (16 C): not valid
        rows.append(("G", "a21026", m, 50.0, "C" if m < 76 else "N"))
        rows.append(("G", "a19001", m, 20.0, "N"))  # O2 20 %: above the guard, no correction
    result = aggregate(frame(rows), {"G": Outlet("gas", o2_ref=6.0)})
    h0 = value(result, "a21026", "hour", 0)
    # valid minutes 10..59: 20 × 30 + 30 × 36 = 1680; 1680 / 50 = 33.6
    assert (h0["n_valid"], h0["valid"]) == (50, True)
    assert h0["value"] == pytest.approx(33.6)
    # corrected: 33.6 × (21 − 6) / (21 − 9) = 33.6 × 15 / 12 = 42.0
    assert h0["corrected"] == pytest.approx(42.0)
    h1 = value(result, "a21026", "hour", 1)
    # 120 − 76 = 44 N minutes < 45: invalid; value 50 kept; O2 20 ≥ 19.5: no corrected value
    assert (h1["n_valid"], h1["valid"], h1["value"], h1["corrected"]) == (44, False, 50.0, None)
    day = value(result, "a21026", "day")
    # one valid hour of 20 needed: the day is invalid; its value is the valid hours' mean, 33.6
    assert (day["valid"], day["n_valid"], day["value"]) == (False, 1, pytest.approx(33.6))


def test_wastewater_is_flow_weighted_and_ph_is_never_averaged() -> None:
    rows = []
    for m in range(60):
        flow = 10.0 if m < 30 else 30.0
        rows.append(("W", "w00000", m, flow, "N"))
        rows.append(("W", "w01018", m, 40.0 if m < 30 else 20.0, "N"))
        rows.append(("W", "w01001", m, 7.0 if m != 5 else 8.6, "N"))
    result = aggregate(frame(rows))
    cod = value(result, "w01018", "hour")
    # Σ C·Q / Σ Q = (30 × 40 × 10 + 30 × 20 × 30) / (30 × 10 + 30 × 30) = (12000 + 18000) / 1200 = 25.0
    assert cod["value"] == pytest.approx(25.0)
    assert cod["corrected"] is None
    # the plain mean would be 30: weighting matters
    assert value(result, "w00000", "hour")["value"] == pytest.approx(20.0)  # (30 × 10 + 30 × 30) / 60
    assert value(result, "w01001", "hour")["value"] == 8.6  # the reading farthest from 7, not a mean


def test_the_day_runs_midnight_to_midnight_china_time() -> None:
    rows = [("G", "a21026", h * 60 + m, 10.0 + h, "N") for h in range(24) for m in range(60)]
    result = aggregate(frame(rows), {"G": Outlet("gas")})
    day = value(result, "a21026", "day")
    # 24 valid hours with values 10 … 33: mean (10 + 33) / 2 = 21.5
    assert (day["valid"], day["n_valid"], day["value"]) == (True, 24, pytest.approx(21.5))
    assert day["time"] == T0
    assert result.filter(pl.col("period") == "day").height == 1


def test_velocity_times_area_gives_flow_where_none_is_sent() -> None:
    rows = [("G", "a01011", m, 10.0, "N") for m in range(60)] + [("G", "a21026", m, 1.0, "N") for m in range(60)]
    result = aggregate(frame(rows), {"G": Outlet("gas", area_m2=20.0)})
    assert value(result, "a00000", "hour")["value"] == pytest.approx(200.0)  # 10 m/s × 20 m² = 200 m³/s


def test_rules_are_configurable() -> None:
    rows = [("G", "a21026", m, 1.0, "N") for m in range(40)]
    assert value(aggregate(frame(rows), {"G": Outlet("gas")}), "a21026", "hour")["valid"] is False
    loose = Rules(record_share=40 / 60)
    assert value(aggregate(frame(rows), {"G": Outlet("gas")}, loose), "a21026", "hour")["valid"] is True


def test_cli_contract(tmp_path: Path) -> None:
    data = tmp_path / "in.csv"
    # minutes 0–4 carry the Zhejiang "O" (over limit) mark, 5–59 N, 60–69 B with no value
    flags = ["O"] * 5 + ["N"] * 55 + ["B"] * 10
    lines = ["mn,factor,time,value,flag"] + [
        f"W1,w01018,{(T0 + timedelta(minutes=m)).isoformat()},{30 if m < 60 else ''},{flags[m]}" for m in range(70)
    ]
    data.write_text("\n".join(lines) + "\n")
    runner = CliRunner()
    refused = runner.invoke(app, ["aggregate", "--input", str(data), "--out", str(tmp_path / "x.csv")])
    assert refused.exit_code == 2
    assert "row 2: flag 'O' is not an HJ 212 data flag" in refused.stderr
    out = tmp_path / "out.csv"
    done = runner.invoke(app, ["aggregate", "--input", str(data), "--out", str(out), "--flag-map", "O=N"])
    assert done.exit_code == 0, done.output
    result = pl.read_csv(out, infer_schema=False)
    # the contract's columns first and in order; n_expected added at the end
    assert result.columns == ["mn", "factor", "period", "time", "value", "corrected", "valid", "n_valid", "n_expected"]
    assert "minute-data interval: 60 s (inferred, 60 records an hour): W1" in done.output
    first = result.row(0, named=True)
    assert (first["period"], first["time"], first["valid"], first["n_valid"]) == (
        "hour",
        "2026-11-29T00:00:00+08:00",
        "true",
        "60",
    )
    second = result.filter(pl.col("time") == "2026-11-29T01:00:00+08:00").row(0, named=True)
    assert (second["valid"], second["n_valid"], second["value"]) == ("false", "0", None)  # B minutes, no values
    # no flow is sent: COD cannot be flow-weighted and is a plain mean of the 60 valid minutes
    assert first["value"] == "30.0"


def test_bad_times_are_named(tmp_path: Path) -> None:
    data = tmp_path / "in.csv"
    data.write_text("mn,factor,time,value,flag\nW,w01018,yesterday,1,N\n")
    with pytest.raises(BadInput, match="row 2: time 'yesterday'"):
        read_minutes(str(data))


@pytest.mark.parametrize(
    ("rows", "row", "time"),
    [
        (["2026-12-01 00:00:00"], 2, "2026-12-01 00:00:00"),
        (["2026/12/01 00:00"], 2, "2026/12/01 00:00"),
        # after a time with its offset, one without is named as such too, not as garbage
        (["2026-12-01T00:00:00+08:00", "2026-12-01 00:01:00"], 3, "2026-12-01 00:01:00"),
    ],
)
def test_a_time_without_an_offset_is_refused_not_read_as_utc(
    tmp_path: Path, rows: list[str], row: int, time: str
) -> None:
    data = tmp_path / "in.csv"
    data.write_text("mn,factor,time,value,flag\n" + "".join(f"MN1,a21026,{t},100,N\n" for t in rows))
    result = CliRunner().invoke(app, ["aggregate", "--input", str(data), "--out", str(tmp_path / "out.csv")])
    assert result.exit_code == 2, result.output
    assert f"row {row}: time {time!r} has no UTC offset: write it as China time with +08:00" in result.stderr
    assert not (tmp_path / "out.csv").exists()


def test_a_value_that_is_not_a_number_is_refused_naming_its_row(tmp_path: Path) -> None:
    data = tmp_path / "in.csv"
    data.write_text(
        "mn,factor,time,value,flag\nMN1,a21026,2026-12-01T00:00:00+08:00,100,N\n"
        "MN1,a21026,2026-12-01T00:01:00+08:00,abc,N\n"
    )
    with pytest.raises(BadInput, match="row 3: value 'abc' is not a number"):
        read_minutes(str(data))


def test_every_way_of_writing_the_offset_is_read_as_that_instant(tmp_path: Path) -> None:
    data = tmp_path / "in.csv"
    data.write_text(
        "mn,factor,time,value,flag\n"
        "MN1,a21026,2026-12-01T00:00:00+08:00, 100 ,N\n"
        "MN1,a21026,2026-12-01 00:01:00+0800,101,N\n"
        "MN1,a21026,2026-11-30T16:02:00Z,,N\n"
    )
    minutes = read_minutes(str(data))
    start = datetime(2026, 12, 1, tzinfo=CST)
    assert minutes["time"].to_list() == [start + timedelta(minutes=m) for m in range(3)]
    assert minutes["value"].to_list() == [100.0, 101.0, None]  # a padded number is a number; empty is no value


def test_a_minute_without_valid_flow_keeps_its_concentration_and_takes_the_mean_flow() -> None:
    rows = []
    for m in range(60):
        rows.append(("W", "w00000", m, 10.0, "N" if m < 30 else "D"))  # the flowmeter fails at 30
        rows.append(("W", "w01018", m, 40.0 if m < 30 else 20.0, "N"))
    cod = value(aggregate(frame(rows)), "w01018", "hour")
    # all 60 COD minutes are valid by their own flag; minutes 30–59 are weighed by the hour's mean
    # valid flow (10): (30 × 40 × 10 + 30 × 20 × 10) / (60 × 10) = 30.0
    assert (cod["n_valid"], cod["valid"]) == (60, True)
    assert cod["value"] == pytest.approx(30.0)


def test_standard_dry_flow_and_loads() -> None:
    rows = []
    for m in range(60):
        rows += [
            ("G", "a21026", m, 100.0, "N"),
            ("G", "a00000", m, 50.0, "N"),  # operating flow, m³/s
            ("G", "a01012", m, 120.0, "N"),  # flue temperature, °C
            ("G", "a01013", m, -0.5, "N"),  # static pressure, kPa
            ("G", "a01014", m, 8.0, "N"),  # moisture, %
            ("W", "w01018", m, 80.0, "N"),  # COD mg/L
            ("W", "w00000", m, 12.5, "N"),  # flow L/s
        ]
    result = aggregate(frame(rows), {"G": Outlet("gas"), "W": Outlet("water")})
    flow = value(result, "a00000", "hour")
    # (101.325 − 0.5)/101.325 × 273.15/(273.15 + 120) × (1 − 0.08)
    #   = 0.995065 × 0.694773 × 0.92 = 0.636037; 50 × 0.636037 = 31.8018 m³/s
    assert flow["standard"] == pytest.approx(31.8018, abs=1e-4)
    assert flow["load"] is None
    so2 = value(result, "a21026", "hour")
    # 100 mg/m³ × 31.8018 m³/s × 3600 s × 1e-6 = 11.4487 kg in the hour
    assert so2["load"] == pytest.approx(11.4487, abs=1e-4)
    assert so2["standard"] is None  # concentrations are not converted unless configured
    cod = value(result.filter(pl.col("mn") == "W"), "w01018", "hour")
    # 80 mg/L × 12.5 L/s × 3600 s × 1e-6 = 3.6 kg
    assert cod["load"] == pytest.approx(3.6)
    day = value(result.filter(pl.col("mn") == "W"), "w01018", "day")
    assert day["load"] == pytest.approx(3.6)  # the only hour with data: the day's sum
    converted = aggregate(frame(rows), {"G": Outlet("gas")}, Rules(convert_concentrations=True))
    # in-situ analyser: 100 / 0.636037 = 157.22 mg/m³ at standard state, dry
    assert value(converted, "a21026", "hour")["standard"] == pytest.approx(157.224, abs=1e-3)


def test_no_conversion_without_moisture() -> None:
    rows = [("G", f, m, v, "N") for m in range(60) for f, v in (("a21026", 10.0), ("a00000", 20.0), ("a01012", 90.0))]
    result = aggregate(frame(rows), {"G": Outlet("gas")})
    # temperature alone is not enough: the flow is taken as sent; 10 × 20 × 0.0036 = 0.72 kg
    assert value(result, "a00000", "hour")["standard"] is None
    assert value(result, "a21026", "hour")["load"] == pytest.approx(0.72)


def test_an_hour_without_flow_takes_the_plain_mean_and_weighs_nothing_in_its_day() -> None:
    rows = []
    for m in range(24 * 60):
        stopped = 60 <= m < 120  # hour 1: the outfall stands still (flow 0) while COD reads on
        rows += [("W", "w01018", m, 50.0 if stopped else 20.0, "N"), ("W", "w00000", m, 0.0 if stopped else 4.0, "N")]
    result = aggregate(frame(rows), {"W": Outlet("water")})
    # no flow to weigh by: the plain mean, 50 (a flow-weighted 0/0 would be NaN)
    assert value(result, "w01018", "hour", 1)["value"] == 50.0
    # the day: hour 1 weighs 0, the 23 others 4 L/s each at 20 → (23 × 4 × 20)/(23 × 4) = 20
    assert value(result, "w01018", "day")["value"] == pytest.approx(20.0)


def test_over_range_minutes_give_a_lower_bound_not_a_valid_mean() -> None:
    rows = []
    for m in range(24 * 60):
        minute = m % 60
        if m < 60:  # hour 0: no over-range reading
            rows.append(("G", "a21026", m, 40.0, "N"))
        else:  # other hours: 30 N minutes at 50, then 20 T minutes pinned at the range, 300, then 10 C
            flag = "N" if minute < 30 else ("T" if minute < 50 else "C")
            rows.append(("G", "a21026", m, 50.0 if flag == "N" else 300.0, flag))
    result = aggregate(frame(rows), {"G": Outlet("gas")})
    h1 = value(result, "a21026", "hour", 1)
    # 30 valid minutes (< 45): the hour is not valid; its mean of valid minutes is 50
    assert (h1["n_valid"], h1["valid"], h1["value"]) == (30, False, 50.0)
    # with the 20 T minutes at their reading: 50 minutes ≥ 45, (30 × 50 + 20 × 300)/50 = 150, a lower bound
    assert h1["bound"] == pytest.approx(150.0)
    assert value(result, "a21026", "hour", 0)["bound"] is None  # no T minute, no bound
    day = value(result, "a21026", "day")
    # 1 valid hour: the day is not valid; bounded or valid hours: 24 → bound (40 + 23 × 150)/24 = 145.4167
    assert (day["n_valid"], day["valid"]) == (1, False)
    assert day["bound"] == pytest.approx(145.41667, abs=1e-4)


def test_a_days_corrected_mean_needs_as_many_correctable_hours_as_its_validity() -> None:
    def day(o2_hours: int) -> dict[str, object]:
        rows = []
        for m in range(24 * 60):  # 24 valid SO2 hours; O2 valid only in the first o2_hours
            rows.append(("G", "a21026", m, 30.0, "N"))
            rows.append(("G", "a19001", m, 9.0, "N" if m < o2_hours * 60 else "D"))
        return value(aggregate(frame(rows), {"G": Outlet("gas", o2_ref=6.0)}), "a21026", "day")

    assert day(20)["corrected"] == pytest.approx(30.0 * 15 / 12)  # 20 correctable hours: enough
    assert day(5)["corrected"] is None  # 5 of 24: no corrected day, never a mean of five hours
    assert day(5)["valid"] is True  # the measured day itself stays valid
