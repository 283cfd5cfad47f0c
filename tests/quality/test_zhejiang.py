"""Conformance on the Zhejiang evaluation days (shared/data/zj-eval-minute, semi-synthetic).

There is no answer key; every expected figure below is worked out from the flagged periods listed
in that folder's SOURCE.md and the rules (a minute counts only if flagged N; an hour is valid with
45 valid minutes; a day with 20 valid hours). Minute k of the file is 00:0(k−1) China time; hour h
holds minutes 60h+1 … 60h+60.
"""

from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from offsite.quality.aggregate import Outlet, aggregate
from tests.shared_data import shared_file

CST = timezone(timedelta(hours=8))
T0 = datetime(2020, 3, 31, tzinfo=CST)  # day A's file name date; the data carry no calendar date
GAS_COLUMNS = {  # column → (factor, flag column)
    "烟尘(mg/m3)": ("a34013", 2),
    "二氧化硫(mg/m3)": ("a21026", 4),
    "氮氧化物(mg/m3)": ("a21002", 6),
    "氧气含量(%)": ("a19001", 8),
    "烟气温度(℃)": ("a01012", 13),
    "烟气压力(KPa)": ("a01013", 13),
    "烟气湿度(%)": ("a01014", 13),
    "烟气流速(m/s)": ("a01011", 13),
}

pytestmark = pytest.mark.shared_data


MINUTES = {
    "mn": pl.String,
    "factor": pl.String,
    "time": pl.Datetime("us", "UTC"),
    "value": pl.Float64,
    "flag": pl.String,
}


def _csv(name: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of one of the evaluation files; the test is skipped, saying why, without it."""
    with open(shared_file(f"zj-eval-minute/{name}"), encoding="utf-8") as fh:
        reader = csv.reader(fh)
        return next(reader), list(reader)


def gas_day_a() -> pl.DataFrame:
    header, lines = _csv("gas_dayA.csv")
    rows = []
    for cells in lines:
        at = T0 + timedelta(minutes=int(cells[0]) - 1)
        for column, (factor, flag_index) in GAS_COLUMNS.items():
            text = cells[header.index(column)]
            rows.append(("ZJ-GAS", factor, at, float(text) if text else None, cells[flag_index]))
    return pl.DataFrame(rows, orient="row", schema=MINUTES)


def hour(result: pl.DataFrame, factor: str, h: int) -> dict[str, object]:
    utc = result.with_columns(pl.col("time").dt.convert_time_zone("UTC"))
    start = T0 + timedelta(hours=h)
    return utc.filter((pl.col("factor") == factor) & (pl.col("period") == "hour") & (pl.col("time") == start)).row(
        0, named=True
    )


def test_gas_day_a_hours_and_day() -> None:
    result = aggregate(gas_day_a(), {"ZJ-GAS": Outlet("gas", o2_ref=6.0, area_m2=20.0)})
    so2 = {h: hour(result, "a21026", h) for h in range(24)}
    # hour 7 = minutes 421–480: 421 N; 422–425 T; 426–480 F  → 1 valid minute, invalid
    assert (so2[7]["n_valid"], so2[7]["valid"]) == (1, False)
    # hour 8 = 481–540: all F  → 0 valid
    assert so2[8]["n_valid"] == 0
    # hour 9 = 541–600: 541–570 F; 571–600 N  → 30 valid, invalid
    assert (so2[9]["n_valid"], so2[9]["valid"]) == (30, False)
    # hour 14 = 841–900: 886–900 D (15 minutes)  → 45 valid: just valid
    assert (so2[14]["n_valid"], so2[14]["valid"]) == (45, True)
    # hour 15 = 901–960: 901–917 D, 918–936 M, 937–960 C  → 0 valid
    assert so2[15]["n_valid"] == 0
    # hour 16 = 961–1020: 961–963 C, 977–992 C, D at 1008, 1014, 1020  → 60 − 3 − 16 − 3 = 38, invalid
    assert (so2[16]["n_valid"], so2[16]["valid"]) == (38, False)
    # hour 17 = 1021–1080: D at 1029, 1038  → 58 valid
    assert (so2[17]["n_valid"], so2[17]["valid"]) == (58, True)
    # every other hour holds only N minutes
    assert all(so2[h]["n_valid"] == 60 for h in range(24) if h not in (7, 8, 9, 14, 15, 16, 17))
    day = result.filter((pl.col("factor") == "a21026") & (pl.col("period") == "day")).row(0, named=True)
    # invalid hours 7, 8, 9, 15, 16  → 19 valid hours < 20: the day is not valid
    assert (day["n_valid"], day["valid"]) == (19, False)
    # the flue-gas flow is derived from velocity × 20 m² for every hour
    assert result.filter((pl.col("factor") == "a00000") & (pl.col("period") == "hour")).height == 24


WATER_COLUMNS = {1: ("w01018", 2), 3: ("w21003", 4), 5: ("w01001", 6), 7: ("w00000", 8)}  # value, flag index


def water_day_a() -> pl.DataFrame:
    _, lines = _csv("water_dayA.csv")
    rows = []
    for cells in lines:
        at = T0 + timedelta(minutes=int(cells[0]) - 1)
        for index, (factor, flag_index) in WATER_COLUMNS.items():
            text = cells[index]
            # "O" marks minutes over the limit, not an HJ 212 flag: as the issue says, map it to N
            flag = "N" if cells[flag_index] == "O" else cells[flag_index]
            rows.append(("ZJ-WATER", factor, at, float(text) if text else None, flag))
    return pl.DataFrame(rows, orient="row", schema=MINUTES)


def test_water_day_a_cod_hours_and_day() -> None:
    result = aggregate(water_day_a(), {"ZJ-WATER": Outlet("water")})
    cod = {h: hour(result, "w01018", h) for h in range(24)}
    # hour 4 = minutes 241–300: all "O" (over limit, mapped to N) at 105 mg/L  → 60 valid; a constant
    # concentration has that value whatever the flow weights: 105
    assert (cod[4]["n_valid"], cod[4]["valid"]) == (60, True)
    assert cod[4]["value"] == pytest.approx(105.0)
    # hour 8 = 481–540: COD all N; the flowmeter is D from minute 520  → still 60 valid COD minutes
    assert (cod[8]["n_valid"], cod[8]["valid"]) == (60, True)
    # hours 9, 10 = 541–660: COD D (541–687)  → 0 valid
    assert cod[9]["n_valid"] == cod[10]["n_valid"] == 0
    # hour 11 = 661–720: D to 687, M 688–712, C 713–720  → 0 valid; hour 12 = 721–780: C to 780  → 0
    assert cod[11]["n_valid"] == cod[12]["n_valid"] == 0
    day = result.filter((pl.col("factor") == "w01018") & (pl.col("period") == "day")).row(0, named=True)
    # 24 − 4 invalid hours = 20 valid hours: exactly enough for a valid day
    assert (day["n_valid"], day["valid"]) == (20, True)


GAS_B_COLUMNS = {  # column index → factor; day B has one flag (column 9) for every value
    1: "a34013",
    2: "a21026",
    3: "a21002",
    4: "a19001",
    5: "a01012",
    6: "a01013",
    7: "a01014",
    8: "a01011",
}


def gas_day_b() -> pl.DataFrame:
    _, lines = _csv("gas_dayB.csv")
    rows = []
    for cells in lines:
        at = T0 + timedelta(minutes=int(cells[0]) - 1)
        for index, factor in GAS_B_COLUMNS.items():
            rows.append(("ZJ-GAS", factor, at, float(cells[index]) if cells[index] else None, cells[9]))
    return pl.DataFrame(rows, orient="row", schema=MINUTES)


def test_gas_day_b_validity_correction_flow_and_load() -> None:
    result = aggregate(gas_day_b(), {"ZJ-GAS": Outlet("gas", o2_ref=6.0, area_m2=20.0)})
    so2 = {h: hour(result, "a21026", h) for h in range(24)}
    # hour 15 = minutes 901–960: D 916–947 (32), M 948–960 (13)  → 15 valid, invalid
    assert (so2[15]["n_valid"], so2[15]["valid"]) == (15, False)
    # hour 16 = 961–1020: M 961–966 (6), C 967–992 (26), C 1008–1020 (13)  → 15 valid, invalid
    assert (so2[16]["n_valid"], so2[16]["valid"]) == (15, False)
    # hour 17 = 1021–1080: C 1021–1023  → 57 valid
    assert (so2[17]["n_valid"], so2[17]["valid"]) == (57, True)
    assert all(so2[h]["n_valid"] == 60 for h in range(24) if h not in (15, 16, 17))
    day = result.filter((pl.col("factor") == "a21026") & (pl.col("period") == "day")).row(0, named=True)
    # 24 − 2 invalid hours = 22 valid hours  → a valid day
    assert (day["n_valid"], day["valid"]) == (22, True)
    # Hour 0, all 60 minutes N. Sums of the file's minutes: SO2 1284.80, O2 468.82, velocity 541.36,
    # temperature 5228.2, static pressure −14.84, moisture 821.93.
    # SO2 = 1284.80/60 = 21.41333; O2 = 468.82/60 = 7.81367
    assert so2[0]["value"] == pytest.approx(21.41333, abs=1e-5)
    # corrected to 6 % O2: 21.41333 × (21 − 6)/(21 − 7.81367) = 21.41333 × 15/13.18633 = 24.35855
    assert so2[0]["corrected"] == pytest.approx(24.35855, abs=1e-5)
    flow = hour(result, "a00000", 0)
    # flow from velocity: 541.36/60 = 9.02267 m/s × 20 m² = 180.45333 m³/s at stack conditions
    assert flow["value"] == pytest.approx(180.45333, abs=1e-5)
    # standard state, dry: t = 87.13667 °C, Ps = −0.24733 kPa, Xsw = 13.69883 %
    # (101.325 − 0.24733)/101.325 × 273.15/360.28667 × (1 − 0.1369883) = 0.652692
    # 180.45333 × 0.652692 = 117.78044 m³/s
    assert flow["standard"] == pytest.approx(117.78044, abs=1e-4)
    # SO2 load: 21.41333 mg/m³ × 117.78044 m³/s × 3600 s × 1e-6 = 9.07946 kg in the hour
    assert so2[0]["load"] == pytest.approx(9.07946, abs=1e-4)


def water_day_b() -> pl.DataFrame:
    _, lines = _csv("water_dayB.csv")
    rows = []
    for cells in lines:
        at = T0 + timedelta(minutes=int(cells[0]) - 1)
        for index, (factor, flag_index) in WATER_COLUMNS.items():
            text = cells[index]
            rows.append(("ZJ-WATER", factor, at, float(text) if text else None, cells[flag_index]))
    return pl.DataFrame(rows, orient="row", schema=MINUTES)


def test_water_day_b_cod_and_ammonia_flow_weighted() -> None:
    result = aggregate(water_day_b(), {"ZJ-WATER": Outlet("water")})
    cod = {h: hour(result, "w01018", h) for h in range(24)}
    # COD is B (no value) at minutes 651, 929, 995, 999, 1004:
    # hour 10 (601–660) 59 valid; hour 15 (901–960) 59; hour 16 (961–1020) 57
    assert [cod[h]["n_valid"] for h in (10, 15, 16)] == [59, 59, 57]
    # D 661–796, M 797–832, C 833–900: hours 11–14 (661–900) have no valid minute
    assert [cod[h]["n_valid"] for h in (11, 12, 13, 14)] == [0, 0, 0, 0]
    nh3 = {h: hour(result, "w21003", h) for h in range(24)}
    # NH3-N: B 295–310 → hour 4 (241–300) 54 valid, hour 5 (301–360) 50; C 931–980 → hour 15 30
    # valid (invalid); hour 16: C 961–980 and B at 988, 1010, 1015, 1018 → 36 (invalid)
    assert [nh3[h]["n_valid"] for h in (4, 5, 15, 16)] == [54, 50, 30, 36]
    nh3_day = result.filter((pl.col("factor") == "w21003") & (pl.col("period") == "day")).row(0, named=True)
    assert (nh3_day["n_valid"], nh3_day["valid"]) == (22, True)
    # COD load of hour 1: COD is 90.0 in every minute; flow sums to 304.88 L/s over 60 minutes →
    # 5.08133 L/s; 90.0 mg/L × 5.08133 L/s × 3600 s × 1e-6 = 1.64635 kg
    assert cod[1]["load"] == pytest.approx(1.64635, abs=1e-5)
    day = result.filter((pl.col("factor") == "w01018") & (pl.col("period") == "day")).row(0, named=True)
    # 20 valid hours (0–10, 15–23): a valid day. COD is constant within each hour; each hour weighs
    # by its mean valid flow (L/s); hour 9 has none (flowmeter D 520–607) and weighs by the day's
    # mean hourly flow, 3.16101 (23 hours). (C, Q̄) per valid hour:
    #  0 (86.4, 7.52967)  1 (90.0, 5.08133)  2 (84.0, 0.46183)  3 (68.5, 3.74950)  4 (105.0, 4.04078)
    #  5 (90.0, 4.04350)  6 (65.8, 4.05900)  7 (70.8, 3.94538)  8 (88.4, 3.91868)  9 (96.8, 3.16101)
    # 10 (70.0, 2.79887) 15 (80.2, 3.10611) 16 (91.0, 4.98817) 17 (135.0, 4.95433) 18 (85.3, 4.99517)
    # 19 (67.9, 3.67783) 20 (86.4, 1.90067) 21 (55.7, 1.51083) 22 (55.7, 0.0) 23 (85.4, 2.12833)
    # Σ C·Q̄ = 6064.2602, Σ Q̄ = 70.0510  → 86.5692 mg/L (the plain mean of the hours would be 82.7)
    assert (day["n_valid"], day["valid"]) == (20, True)
    assert day["value"] == pytest.approx(86.5692, abs=1e-4)
