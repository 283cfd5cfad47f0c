"""Peer profiles: computed in a pass of their own, over all the peers, and read by R07, R08 and R09."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from offsite.screening import profiles
from offsite.screening.engine import screen, screen_own
from offsite.screening.inputs import INDUSTRIES, LIMITS, Inputs
from offsite.screening.parameters import load
from offsite.screening.pool import profile_partials, screen_batches
from offsite.screening.prepared import prepare
from offsite.sim import scenarios as sc
from offsite.sim.frames import long_frame
from tests.screening.planted import AT, LIMIT, START, device

PEERS = 6


def maintained(s: sc.Series) -> None:
    sc.flagged(s, "a21026", AT, 360, "M")  # six hours: not long for one event, long against peers


def inputs_of(planted: list[sc.Series], industry: str = "cement") -> Inputs:
    limits = pl.DataFrame(
        {"mn": [s.mn for s in planted], "factor": "a21026", "limit": LIMIT, "basis": "measured", "o2_ref": None}
    )
    industries = pl.DataFrame({"mn": [s.mn for s in planted], "industry": industry}, schema=INDUSTRIES)
    return Inputs(long_frame(planted, {}), limits=limits.cast(LIMITS, strict=False), industries=industries)


def peer_rules(inputs: Inputs, mn: str) -> set[str]:
    hits = screen(inputs, load()).hits
    return set(hits.filter((pl.col("mn") == mn) & pl.col("summary").str.contains("同行业"))["rule"])


def test_a_device_screened_alone_is_judged_against_profiles_of_all_its_peers() -> None:
    planted = [device(f"MN-P{n}", 60 + n) for n in range(PEERS)] + [device("MN-M", 70, maintained)]
    everyone = inputs_of(planted)
    catalogue = load()
    peer_profiles = profiles.profile(profiles.observe(prepare(everyone), catalogue), everyone.industries, catalogue)
    row = peer_profiles.filter(pl.col("metric") == profiles.OUT_OF_SERVICE).row(0, named=True)
    assert row["industry"] == "cement"
    assert row["peers"] == PEERS + 1

    alone = inputs_of(planted[-1:])
    # by itself the device has no peers to be compared with …
    assert peer_rules(alone, "MN-M") == set()
    # … with the profiles of its industry, it stands out
    assert peer_rules(replace(alone, profiles=peer_profiles), "MN-M") == {"R07"}
    # profiles of another industry do not apply to it
    other = peer_profiles.with_columns(pl.lit("glass").alias("industry"))
    assert peer_rules(replace(alone, profiles=other), "MN-M") == set()


def test_r08_compares_the_time_spent_near_the_limit_with_peers_and_finds_a_pile_up_at_it() -> None:
    rng = np.random.default_rng(3)

    def hugging(s: sc.Series) -> None:
        # a fifth of the hours at 92–98 % of the limit, spread over the days: no day over 30 %
        for hour in range(0, 72, 5):
            s.values["a21026"][hour * 60 : hour * 60 + 60] = np.round(LIMIT * rng.uniform(0.92, 0.98, 60), 2)

    def spread(s: sc.Series) -> None:
        # a plant that runs close to the limit and over it now and then: a smooth spread, no pile-up
        hours = np.repeat(LIMIT * rng.normal(0.9, 0.08, 72), 60)
        s.values["a21026"][:] = np.round(hours, 2)

    # P95 of a few series is their highest: the comparison needs an industry of some size
    planted = [device(f"MN-P{n}", 200 + n) for n in range(20)] + [device("MN-HUG", 90, hugging)]
    hits = screen(inputs_of(planted), load()).hits.filter(pl.col("rule") == "R08")
    hug = hits.filter(pl.col("mn") == "MN-HUG")["summary"].to_list()
    assert any("同行业" in s for s in hug), hug
    assert any("在限值处堆积" in s for s in hug), hug
    # the daily rule alone would not have seen it
    assert not any("的有效小时" in s for s in hug), hug
    assert hits.filter(pl.col("mn").str.starts_with("MN-P")).is_empty()
    smooth = screen(inputs_of([device("MN-SPREAD", 91, spread)]), load()).hits
    assert not any("堆积" in s for s in smooth["summary"]), smooth


def _batch(path: Path) -> Inputs:
    frame = pl.read_parquet(path)
    mns = frame["mn"].unique()
    return Inputs(
        frame.drop("batch"),
        industries=pl.DataFrame({"mn": mns, "industry": "cement"}, schema=INDUSTRIES),
    )


@pytest.mark.parametrize("workers", [1, 2])
def test_the_pool_profiles_peers_across_batches_before_screening(tmp_path: Path, workers: int) -> None:
    """Four devices in each of two batches: no batch has the five peers R07 needs; together they do."""
    planted = [device(f"MN-P{n}", 100 + n) for n in range(7)] + [device("MN-M", 110, maintained)]
    paths = []
    for b in range(2):
        path = tmp_path / f"batch-{b}.parquet"
        long_frame(planted[4 * b : 4 * b + 4], {}).with_columns(pl.lit(b).alias("batch")).write_parquet(path)
        paths.append(path)
    catalogue = load()
    peer_profiles = profile_partials([screen_own(_batch(path), catalogue) for path in paths], catalogue)
    assert peer_profiles.filter(pl.col("metric") == profiles.OUT_OF_SERVICE)["peers"].to_list() == [8]
    clues = screen_batches(paths, _batch, catalogue, workers=workers)
    peer = clues.filter(pl.col("summary").str.contains("同行业"))
    assert peer.select("mn", "rule").rows() == [("MN-M", "R07")]
    assert peer["start"][0] == START + timedelta(minutes=AT)  # the first hour out of service


def test_an_industry_with_overrides_of_its_own_is_profiled_with_them(tmp_path: Path) -> None:
    def days(prefix: str) -> pl.DataFrame:
        # twenty devices, half of them four hours out of service on the day
        return pl.DataFrame(
            {
                "mn": [f"{prefix}{n}" for n in range(20)],
                "day": [START.date()] * 20,
                "hours": [0.0] * 10 + [4.0] * 10,
                "start": None,
                "end": None,
            },
            schema=profiles.DAYS,
        )

    observed = replace(profiles.Observations.empty(), days=pl.concat([days("CEM"), days("GLS")]))
    industries = pl.DataFrame(
        {"mn": [f"{p}{n}" for p in ("CEM", "GLS") for n in range(20)], "industry": ["C"] * 20 + ["G"] * 20}
    )
    config = tmp_path / "rules.toml"
    config.write_text('[override."industry:C".R07]\npeer_quantile = 0.25\n', encoding="utf-8")
    found = profiles.profile(observed, industries, load(config)).filter(pl.col("metric") == profiles.OUT_OF_SERVICE)
    assert dict(found.select("industry", "value").rows()) == {"C": 0.0, "G": 4.0}
    assert found["peers"].to_list() == [20, 20]
