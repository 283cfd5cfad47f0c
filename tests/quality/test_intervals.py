"""Validity by records at the device's reporting interval, cycle analysers, flow basis and units,
loads only for mass concentrations, and the reference O2 (issue 14 points 1, 3, 5)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from offsite.cli import app
from offsite.quality.aggregate import BadInput, Outlet, aggregate, device_intervals, read_minutes
from offsite.quality.intervals import CAPPED, DECLARED, INFERRED, BadInterval, interval_problem, required
from offsite.quality.loads import kg_per_m3
from offsite.quality.rules import Rules

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 29, tzinfo=CST)


def frame(rows: Sequence[tuple[str, str, float, float | None, str]]) -> pl.DataFrame:
    """Rows ``mn, factor, minute, value, flag`` (minutes since T0, fractions allowed)."""
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


def rows_of(result: pl.DataFrame, factor: str, period: str) -> pl.DataFrame:
    return result.filter((pl.col("factor") == factor) & (pl.col("period") == period)).sort("time")


def test_required_is_three_quarters_rounded_up() -> None:
    assert [required(n, 0.75) for n in (60, 30, 12, 6, 4, 1)] == [45, 23, 9, 5, 3, 1]


def test_a_ten_minute_device_has_valid_hours_and_a_valid_day_that_can_exceed() -> None:
    # every 10 minutes for a day: 6 records an hour, SO2 250 mg/m³ (over a 200 limit)
    rows = [("G", "a21026", m, 250.0, "N") for m in range(0, 24 * 60, 10)]
    result = aggregate(frame(rows), {"G": Outlet("gas")})
    hours = rows_of(result, "a21026", "hour")
    assert hours.height == 24
    assert hours["valid"].all()  # today: 6 < 45 records, every hour invalid
    assert set(hours["n_expected"]) == {6}
    day = rows_of(result, "a21026", "day").row(0, named=True)
    assert (day["valid"], day["n_valid"], day["n_expected"], day["value"]) == (True, 24, 24, 250.0)
    assert day["value"] > 200.0  # a valid day over the limit: an exceedance day is possible
    # one record short of 5 in an hour: that hour is invalid
    fewer = [r for r in rows if r[2] not in (0, 10)]  # hour 0: 4 of 6
    hour0 = rows_of(aggregate(frame(fewer), {"G": Outlet("gas")}), "a21026", "hour").row(0, named=True)
    assert (hour0["n_valid"], hour0["n_expected"], hour0["valid"]) == (4, 6, False)


def test_a_one_minute_device_needs_45_records() -> None:
    base = [("G", "a21026", m, 30.0, "N") for m in range(60, 120)]  # hour 1 complete: spacing 60 s
    with_44 = base + [("G", "a21026", m, 30.0, "N") for m in range(44)]
    with_45 = base + [("G", "a21026", m, 30.0, "N") for m in range(45)]
    h44 = rows_of(aggregate(frame(with_44), {"G": Outlet("gas")}), "a21026", "hour").row(0, named=True)
    h45 = rows_of(aggregate(frame(with_45), {"G": Outlet("gas")}), "a21026", "hour").row(0, named=True)
    assert (h44["n_valid"], h44["n_expected"], h44["valid"]) == (44, 60, False)
    assert (h45["n_valid"], h45["n_expected"], h45["valid"]) == (45, 60, True)


def test_a_lossy_one_minute_device_is_not_judged_as_a_slower_one() -> None:
    # every third minute lost all day long: 40 records an hour, spacings of 60 and 120 s
    rows = [("G", "a21026", m, 30.0, "N") for m in range(24 * 60) if m % 3 != 2]
    used = device_intervals(frame(rows))
    assert (used["G", "a21026"].seconds, used["G", "a21026"].source) == (60, INFERRED)
    hours = rows_of(aggregate(frame(rows), {"G": Outlet("gas")}), "a21026", "hour")
    assert not hours["valid"].any()  # 40 of 60 < 45


def test_a_declared_interval_wins_and_is_checked() -> None:
    rows = [("G", "a21026", m, 30.0, "N") for m in range(0, 60, 5)]  # 12 records in the hour
    declared = {"G": Outlet("gas", minute_interval_s=60)}
    used = device_intervals(frame(rows), declared)
    assert (used["G", "a21026"].seconds, used["G", "a21026"].source) == (60, DECLARED)
    hour = rows_of(aggregate(frame(rows), declared), "a21026", "hour").row(0, named=True)
    assert (hour["n_expected"], hour["valid"]) == (60, False)  # declared 1 min: 12 records are too few
    assert rows_of(aggregate(frame(rows), {"G": Outlet("gas")}), "a21026", "hour")["valid"].to_list() == [True]
    with pytest.raises(BadInterval, match="divisor of 3600"):
        device_intervals(frame(rows), {"G": Outlet("gas", minute_interval_s=420)})
    assert all(interval_problem(s) for s in (30, 7200, 420))
    assert interval_problem(600) is None


def test_a_cycle_analyser_is_judged_by_its_cycle() -> None:
    # COD measured every 2 hours (one record each), flow every minute
    rows = [("W", "w01018", h * 60, 40.0, "N") for h in range(0, 24, 2)]
    rows += [("W", "w00000", m, 5.0, "N") for m in range(24 * 60)]
    result = aggregate(frame(rows), {"W": Outlet("water")})
    hours = rows_of(result, "w01018", "hour")
    assert hours.height == 12
    assert hours["valid"].all()
    assert set(hours["n_expected"]) == {1}
    day = rows_of(result, "w01018", "day").row(0, named=True)
    # a 2-hour cycle implies 12 measurements a day; 12 ≥ 9 (75 %, rounded up)
    assert (day["valid"], day["n_valid"], day["n_expected"]) == (True, 12, 12)
    short = [r for r in rows if not (r[1] == "w01018" and r[2] >= 16 * 60)]  # 8 measurements
    day = rows_of(aggregate(frame(short), {"W": Outlet("water")}), "w01018", "day").row(0, named=True)
    assert (day["valid"], day["n_valid"], day["n_expected"]) == (False, 8, 12)


def test_the_cli_says_which_interval_judged_which_device(tmp_path: Path) -> None:
    data = tmp_path / "in.csv"
    lines = ["mn,factor,time,value,flag"]
    lines += [f"TEN,a21026,{(T0 + timedelta(minutes=m)).isoformat()},30,N" for m in range(0, 120, 10)]
    lines += [f"ONE,a21026,{(T0 + timedelta(minutes=m)).isoformat()},30,N" for m in range(120)]
    data.write_text("\n".join(lines) + "\n")
    outlets = tmp_path / "outlets.csv"
    outlets.write_text("mn,medium,minute_interval_s\nONE,gas,60\nTEN,gas,\n")
    out = tmp_path / "out.csv"
    done = CliRunner().invoke(app, ["aggregate", "--input", str(data), "--out", str(out), "--outlets", str(outlets)])
    assert done.exit_code == 0, done.output
    assert "60 s (declared, 60 records an hour): ONE" in done.output
    assert "600 s (inferred, 6 records an hour): TEN" in done.output
    result = pl.read_csv(out)
    assert result.filter(pl.col("mn") == "TEN", pl.col("period") == "hour")["n_expected"].to_list() == [6, 6]
    outlets.write_text("mn,medium,minute_interval_s\nONE,gas,420\n")
    refused = CliRunner().invoke(app, ["aggregate", "--input", str(data), "--out", str(out), "--outlets", str(outlets)])
    assert refused.exit_code == 2
    assert "row 2: minute_interval_s 420.0 s is not a reporting interval" in refused.stderr


def gas_hour(flow: float, **outlet: object) -> dict[str, dict[str, object]]:
    rows = []
    for m in range(60):
        rows += [
            ("G", "a21026", m, 100.0, "N"),
            ("G", "a00000", m, flow, "N"),
            ("G", "a01012", m, 120.0, "N"),
            ("G", "a01013", m, -0.5, "N"),
            ("G", "a01014", m, 8.0, "N"),
            ("G", "a19001", m, 9.0, "N"),
        ]
    result = aggregate(frame(rows), {"G": Outlet("gas", **outlet)})  # type: ignore[arg-type]
    return {f: rows_of(result, f, "hour").row(0, named=True) for f in ("a21026", "a00000", "a01012", "a19001")}


def test_a_standard_dry_flow_is_not_converted_again() -> None:
    actual = gas_hour(50.0)
    # actual wet flow: 50 × 0.636037 = 31.8018 m³/s standard dry; 100 × 31.8018 × 3600 × 1e-6 = 11.4487 kg
    assert actual["a21026"]["load"] == pytest.approx(11.4487, abs=1e-4)
    dry = gas_hour(50.0, flow_basis="standard_dry")
    # already standard dry: 50 m³/s as sent; 100 × 50 × 3600 × 1e-6 = 18.0 kg (today 11.4487, cut 36 %)
    assert dry["a00000"]["standard"] == pytest.approx(50.0)
    assert dry["a21026"]["load"] == pytest.approx(18.0)


def test_flow_units_are_converted_to_cubic_metres_per_second() -> None:
    per_hour = gas_hour(180_000.0, flow_basis="standard_dry", flow_unit="m3/h")
    # 180 000 m³/h = 50 m³/s: the same 18.0 kg
    assert per_hour["a00000"]["standard"] == pytest.approx(50.0)
    assert per_hour["a21026"]["load"] == pytest.approx(18.0)
    litres = gas_hour(50_000.0, flow_basis="standard_dry", flow_unit="L/s")
    assert litres["a21026"]["load"] == pytest.approx(18.0)
    water = [("W", "w21003", m, 2.0, "N") for m in range(60)] + [("W", "w00000", m, 36.0, "N") for m in range(60)]
    hour = rows_of(aggregate(frame(water), {"W": Outlet("water", flow_unit="m3/h")}), "w21003", "hour")
    # 2 mg/L × 36 m³/h: 2 g/m³ × 0.01 m³/s × 3600 s = 72 g = 0.072 kg
    assert hour["load"].to_list() == pytest.approx([0.072])


def test_loads_only_for_mass_concentrations_in_their_own_units() -> None:
    rows = []
    for m in range(60):
        rows += [
            ("W", "w00000", m, 10.0, "N"),  # 10 L/s = 0.01 m³/s
            ("W", "w01001", m, 7.5, "N"),  # pH
            ("W", "w01010", m, 25.0, "N"),  # water temperature
            ("W", "w01014", m, 800.0, "N"),  # conductivity µS/cm
            ("W", "w02003", m, 1000.0, "N"),  # faecal coliforms count/L
            ("W", "w20111", m, 5.0, "N"),  # total mercury, µg/L
            ("W", "w20113", m, 5.0, "N"),  # alkyl mercury, ng/L
            ("W", "w21003", m, 5.0, "N"),  # NH3-N, mg/L
        ]
    result = aggregate(frame(rows), {"W": Outlet("water")})
    loads = {f: rows_of(result, f, "hour")["load"][0] for f in ("w01001", "w01010", "w01014", "w02003", "w00000")}
    assert loads == dict.fromkeys(loads)  # none: not masses
    load = {f: rows_of(result, f, "hour")["load"][0] for f in ("w20111", "w20113", "w21003")}
    # 5 mg/L × 0.01 m³/s × 3600 s: 5e-3 kg/m³ × 36 m³ = 0.18 kg; µg/L 1000× less, ng/L 10⁶× less
    assert load["w21003"] == pytest.approx(0.18)
    assert load["w20111"] == pytest.approx(0.18e-3)
    assert load["w20113"] == pytest.approx(0.18e-6)
    gas = gas_hour(50.0, flow_basis="standard_dry")
    assert [gas[f]["load"] for f in ("a01012", "a19001", "a00000")] == [None, None, None]


def test_dioxins_in_ng_teq_get_a_load_once_their_unit_is_named() -> None:
    rules = Rules(factor_units={"a99999": "ng-TEQ/m³"})
    assert kg_per_m3(rules)["a99999"] == pytest.approx(1e-12)
    rows = [("G", "a99999", m, 0.05, "N") for m in range(60)] + [("G", "a00000", m, 50.0, "N") for m in range(60)]
    result = aggregate(frame(rows), {"G": Outlet("gas", flow_basis="standard_dry")}, rules)
    # 0.05 ng-TEQ/m³ × 50 m³/s × 3600 s = 9 000 ng-TEQ = 9e-9 kg
    assert rows_of(result, "a99999", "hour")["load"][0] == pytest.approx(9e-9)
    unnamed = aggregate(frame(rows), {"G": Outlet("gas", flow_basis="standard_dry")})
    assert rows_of(unnamed, "a99999", "hour")["load"][0] is None  # unknown unit: no load, never a guess


def test_no_correction_from_an_invalid_o2_hour() -> None:
    rows = [("G", "a21026", m, 30.0, "N") for m in range(60)]
    rows += [("G", "a19001", m, 9.0, "N" if m < 30 else "D") for m in range(60)]  # 30 valid O2 minutes
    hour = rows_of(aggregate(frame(rows), {"G": Outlet("gas", o2_ref=6.0)}), "a21026", "hour").row(0, named=True)
    # O2's hour is invalid (30 < 45): no corrected value, and never the raw 30 in its place
    assert (hour["valid"], hour["corrected"]) == (True, None)


def test_each_factor_is_judged_at_its_own_interval() -> None:
    # temperature and O2 every minute, SO2 every 10 minutes at 900 (the attacker's ins3.py)
    rows = []
    for m in range(24 * 60):
        rows += [("G", "a01012", m, 120.0, "N"), ("G", "a19001", m, 10.0, "N")]
        if m % 10 == 0:
            rows.append(("G", "a21026", m, 900.0, "N"))
    used = device_intervals(frame(rows))
    assert (used["G", "a01012"].seconds, used["G", "a21026"].seconds) == (60, 600)
    result = aggregate(frame(rows), {"G": Outlet("gas")})
    hours = rows_of(result, "a21026", "hour")
    # today: judged at the temperature's 60 s, 6 < 45 records, every SO2 hour invalid and never judged
    assert hours["valid"].all()
    assert set(hours["n_expected"]) == {6}
    day = rows_of(result, "a21026", "day").row(0, named=True)
    assert (day["valid"], day["n_valid"], day["value"]) == (True, 24, 900.0)


def test_an_hourly_factor_first_in_the_file_does_not_judge_the_others() -> None:
    # the attacker's rep.csv: temperature once an hour first, SO2 three records an hour
    rows = [("R", "a01012", h * 60, 120.0, "N") for h in range(24)]
    rows += [("R", "a21026", h * 60 + m, 20.0, "N") for h in range(24) for m in (5, 6, 7)]
    used = device_intervals(frame(rows))
    assert used["R", "a21026"].seconds == 60  # its own spacing, not the temperature's 3600
    assert (used["R", "a01012"].seconds, used["R", "a01012"].source) == (600, CAPPED)
    result = aggregate(frame(rows), {"R": Outlet("gas")})
    so2 = rows_of(result, "a21026", "hour")
    assert not so2["valid"].any()  # today: valid with n_valid 3 > n_expected 1
    assert (so2["n_valid"] <= so2["n_expected"]).all()
    assert not rows_of(result, "a01012", "hour")["valid"].any()


def test_an_interval_inferred_above_ten_minutes_is_capped_and_a_longer_one_must_be_declared() -> None:
    # two records an hour, at :00 and :30, all day
    rows = [("S", "a21026", h * 60 + m, 150.0, "N") for h in range(24) for m in (0, 30)]
    used = device_intervals(frame(rows))
    assert (used["S", "a21026"].seconds, used["S", "a21026"].source) == (600, CAPPED)
    hours = rows_of(aggregate(frame(rows), {"S": Outlet("gas")}), "a21026", "hour")
    assert (set(hours["n_expected"]), hours["valid"].any()) == ({6}, False)  # today: 2 of 2, valid
    declared = rows_of(aggregate(frame(rows), {"S": Outlet("gas", minute_interval_s=1800)}), "a21026", "hour")
    assert declared["valid"].all()
    assert Rules(max_inferred_interval_s=1800).max_inferred_interval_s == 1800
    wider = device_intervals(frame(rows), rules=Rules(max_inferred_interval_s=1800))
    assert (wider["S", "a21026"].seconds, wider["S", "a21026"].source) == (1800, INFERRED)


@pytest.mark.parametrize(
    ("case", "seconds"),
    [
        ("12 minutes sent 4 times each", [m * 60 for m in range(12) for _ in range(4)]),
        ("60 records in one second", [0] * 60),
        ("45 records in 45 seconds", list(range(45))),
    ],
)
def test_records_count_as_distinct_slots_of_the_interval(case: str, seconds: list[int]) -> None:
    rows = [("D", "a21026", h * 60 + s / 60, 500.0, "N") for h in range(24) for s in seconds]
    result = aggregate(frame(rows), {"D": Outlet("gas")})
    hours = rows_of(result, "a21026", "hour")
    assert not hours["valid"].any(), case  # today: 48, 60 or 45 records, a valid hour
    assert (hours["n_valid"] <= hours["n_expected"]).all(), case
    assert not rows_of(result, "a21026", "day")["valid"].any(), case


def test_a_minute_sent_twice_counts_once() -> None:
    rows = [("D", "a21026", m, 30.0, "N") for m in range(44)] + [("D", "a21026", m, 30.0, "N") for m in range(10)]
    rows += [("D", "a21026", m, 30.0, "N") for m in range(60, 120)]  # a complete hour: 60 s spacing
    hour = rows_of(aggregate(frame(rows), {"D": Outlet("gas")}), "a21026", "hour").row(0, named=True)
    assert (hour["n_valid"], hour["valid"]) == (44, False)  # today: 54 records, valid


def test_non_finite_values_are_refused_in_a_file_and_never_counted(tmp_path: Path) -> None:
    data = tmp_path / "nan.csv"
    lines = ["mn,factor,time,value,flag"]
    lines += [f"N,a21026,{(T0 + timedelta(minutes=m)).isoformat()},{100 if m > 1 else 'x'},N" for m in range(60)]
    data.write_text("\n".join(lines).replace(",x,", ",NaN,", 1).replace(",x,", ",inf,", 1) + "\n")
    with pytest.raises(BadInput, match=r"row 2: value 'NaN' is not a finite number"):
        read_minutes(str(data))
    out = tmp_path / "out.csv"
    refused = CliRunner().invoke(app, ["aggregate", "--input", str(data), "--out", str(out)])
    assert refused.exit_code == 2
    assert "row 2: value 'NaN' is not a finite number" in refused.stderr
    rows = [("N", "a21026", m, v, "N") for m, v in enumerate([float("nan"), float("inf")] + [100.0] * 58)]
    hour = rows_of(aggregate(frame(rows), {"N": Outlet("gas")}), "a21026", "hour").row(0, named=True)
    assert (hour["n_valid"], hour["value"], hour["valid"]) == (58, 100.0, True)  # today: value NaN, valid


def test_only_gases_and_particulates_are_corrected_to_the_reference_o2() -> None:
    rows = []
    for m in range(60):
        rows += [
            ("G", "a21026", m, 100.0, "N"),  # SO2
            ("G", "a34013", m, 10.0, "N"),  # particulate
            ("G", "a01901", m, 900.0, "N"),  # furnace temperature
            ("G", "a01006", m, 101.0, "N"),  # air pressure
            ("G", "a19001", m, 9.0, "N"),
        ]
    result = aggregate(frame(rows), {"G": Outlet("gas", o2_ref=6.0)})
    corrected = {f: rows_of(result, f, "hour")["corrected"][0] for f in ("a21026", "a34013", "a01901", "a01006")}
    # 100 × 15/12 = 125, 10 × 15/12 = 12.5; a furnace temperature of 1125 °C was invented until now
    assert corrected == {"a21026": 125.0, "a34013": 12.5, "a01901": None, "a01006": None}
