"""R19: a corrected-basis limit with no correction possible is not judged on the measured value,
and the readings are raised as a clue of their own."""

from __future__ import annotations

import polars as pl

from offsite.screening.engine import screen
from offsite.screening.inputs import Inputs
from offsite.screening.parameters import load
from offsite.screening.prepared import prepare
from offsite.sim import scenarios as sc
from offsite.sim.frames import long_frame
from tests.screening.planted import AT, LIMIT, device

O2 = "a19001"


def _inputs(planted: list[sc.Series], o2_ref: float | None = 6.0) -> Inputs:
    limits = pl.DataFrame(
        {
            "mn": [s.mn for s in planted],
            "factor": "a21026",
            "limit": LIMIT,
            "basis": "corrected",
            "o2_ref": o2_ref,
        },
        schema={"mn": pl.String, "factor": pl.String, "limit": pl.Float64, "basis": pl.String, "o2_ref": pl.Float64},
    )
    return Inputs(long_frame(planted, {}), limits=limits)


def _o2_broken(s: sc.Series) -> None:
    s.values[O2][AT : AT + 180] = 20.2  # the probe pulls ambient air for three hours; the plant runs


def test_readings_with_o2_at_the_guard_have_no_limit_and_raise_r19() -> None:
    inputs = _inputs([device("MN-O2", 3, _o2_broken), device("MN-OK", 4)])
    prepared = prepare(inputs).pollutants.filter(pl.col("factor") == "a21026")
    broken = prepared.filter((pl.col("mn") == "MN-O2") & (pl.col("o2") >= 19.5))
    assert broken.height == 180
    assert broken["limit"].null_count() == 180  # never the nominal 100 against a diluted reading
    assert broken["uncorrectable"].all()
    result = screen(inputs, load())
    r19 = result.hits.filter(pl.col("rule") == "R19")
    assert r19["mn"].unique().to_list() == ["MN-O2"]
    [hit] = r19.to_dicts()
    assert (hit["end"] - hit["start"]).total_seconds() == 180 * 60
    assert "氧含量达" in hit["summary"]


def test_an_outlet_without_a_reference_o2_is_raised_and_named() -> None:
    result = screen(_inputs([device("MN-NOREF", 5)], o2_ref=None), load())
    hits = result.hits.filter(pl.col("rule") == "R19")
    assert hits.height >= 1
    assert "排口未设基准氧含量" in hits["summary"][0]
    assert not any(notice.startswith("MN-NOREF a21026") for notice in result.notices)  # it has one
