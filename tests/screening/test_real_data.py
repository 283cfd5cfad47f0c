"""The catalogue on the real exports in shared/data (third-party; skipped, saying why, without them).

- Jiangsu wastewater (hourly, one parameter, probably NH3-N — SOURCE.md says not to rely on it):
  SOURCE.md lists a 185-row frozen run of 2.96 from 2022-01-29 16:00; it must be found.
- UCI gas turbine (hourly CO and NOx, clean real process data, no timestamps: hours are numbered
  from 2011-01-01 00:00 China time): no drop, zero or dilution clue may score 0.5 or more, and
  with the energy yield as the load, R10 finds NOx where the load puts it.
"""

from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from offsite.screening.engine import screen
from offsite.screening.inputs import DATA, LIMITS, Inputs
from offsite.screening.parameters import load
from tests.shared_data import shared_file

CST = timezone(timedelta(hours=8))

pytestmark = pytest.mark.shared_data


def test_jiangsu_frozen_run_is_found() -> None:
    with open(shared_file("jiangsu-ww-online-hourly/test.csv"), encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["monitorTime"]]
    data = pl.DataFrame(
        [
            (
                "JS-WW",
                "w21003",
                datetime.fromisoformat(r["monitorTime"]).replace(tzinfo=CST),
                r["monitorAvgValue"] or None,
                "N",
            )
            for r in rows
        ],
        schema=DATA,
        orient="row",
    )
    result = screen(Inputs(data), load())
    frozen = result.hits.filter(
        (pl.col("rule") == "R01")
        & (pl.col("start") <= datetime(2022, 1, 30, tzinfo=CST))
        & (pl.col("end") >= datetime(2022, 2, 1, tzinfo=CST))
    )
    assert frozen.height == 1
    assert "恒定为 2.96" in frozen["summary"][0]
    # the data have no flow or power: a gap is never said to fall in production
    gaps = result.hits.filter(pl.col("rule") == "R06")
    assert gaps.height > 0
    assert gaps["summary"].str.contains("未能确认生产状态").all()
    assert (gaps["score"] < 0.5).all()


def test_gas_turbine_raises_no_strong_drop_zero_or_dilution_clue() -> None:
    first = datetime(2011, 1, 1, tzinfo=CST)
    frames = []
    for year in range(2011, 2016):
        frames.append(pl.read_csv(shared_file(f"uci-gas-turbine-co-nox/gt_{year}.csv"), has_header=False))
    table = pl.concat(frames)
    hours = pl.datetime_range(first, first + timedelta(hours=table.height - 1), "1h", eager=True, time_zone="UTC")
    data = pl.concat(
        [
            pl.DataFrame({"mn": "GT", "factor": factor, "time": hours, "value": table[column], "flag": "N"})
            # the turbine energy yield (column 7, MWh) stands in for the production meter: R10's load
            for factor, column in (
                ("a21005", table.columns[9]),
                ("a21002", table.columns[10]),
                ("power:production", table.columns[7]),
            )
        ]
    ).cast(DATA)
    limits = pl.DataFrame([("GT", "a21002", 120.0, "measured", None)], schema=LIMITS, orient="row")
    result = screen(Inputs(data, limits=limits), load())
    strong = result.clues.filter(pl.col("score") >= 0.5)
    assert not any(set(rules) & {"R02", "R03", "R05", "R09"} for rules in strong["rules"].to_list())
    # NOx follows the turbine's load as a real process does: nothing under-reported
    assert result.hits.filter(pl.col("rule") == "R10").is_empty()
    # its one long frozen stretch: NOx at 60.4 for 102 hours
    frozen = result.hits.filter((pl.col("rule") == "R01") & pl.col("summary").str.contains("连续 102 个读数"))
    assert frozen.height == 1
