"""R18 试剂/冷凝器干扰: SO2 pushed down chemically (alkali in the condenser, reagents in the
sample line) — the SO2/NOx ratio falls far below what the device's own history shows while NOx,
O2 and flow carry on as usual, for hours. The seed case of the mission article."""

from __future__ import annotations

from typing import Any

import polars as pl

from offsite.screening.detectors.common import hourly as common_hourly
from offsite.screening.detectors.common import lag, new_series, valid
from offsite.screening.hits import HITS, clock, finish, number, runs
from offsite.screening.prepared import Prepared

SO2, NOX = "a21026", "a21002"
KEYS = ("mn",)


def detect(p: Prepared, params: dict[str, Any]) -> pl.DataFrame:
    pairs = valid(p.pollutants).filter(pl.col("factor").is_in([SO2, NOX]))
    if pairs.is_empty():
        return pl.DataFrame(schema=HITS)
    flags = [pl.col("operating").cast(pl.Float64), pl.col("marked").cast(pl.Float64)]
    so2 = common_hourly(
        pairs.filter(pl.col("factor") == SO2).with_columns(flags), ["value", "flow", "o2", "operating", "marked"], KEYS
    )
    nox = common_hourly(pairs.filter(pl.col("factor") == NOX), ["value"], KEYS).rename({"value": "nox"})
    hourly = (
        so2.rename({"value": "so2"})
        .join(nox, on=["mn", "hour"], maintain_order="left")
        .with_columns((pl.col("operating") == 1.0).alias("operating"), (pl.col("marked") > 0).alias("marked"))
        .filter(pl.col("so2").is_not_null() & (pl.col("nox") > 0))
        .with_columns((pl.col("so2") / pl.col("nox")).alias("ratio"), new_series(KEYS).cum_sum().alias("_g"))
    )

    def usual(column: str) -> pl.Expr:
        """The same hour on the days before (up to a week): what this device does at this time of
        day, so that the daily production cycle is not taken for a change."""
        return pl.mean_horizontal([lag(column, 24 * k, KEYS) for k in range(1, 8)])

    # the low percentile of the 90 days that end a day before the hour: an event shorter than a
    # day is not its own history
    low = (
        pl.col("ratio")
        .shift(24)
        .rolling_quantile(params["ratio_quantile"], window_size=90 * 24, min_samples=params["history_hours"])
        .over("_g")
    )
    typical = (
        pl.col("ratio").shift(24).rolling_median(window_size=90 * 24, min_samples=params["history_hours"]).over("_g")
    )
    steady = [
        ((pl.col(c) / usual(c) - 1).abs() < params["covariate_change"]).fill_null(value=True) for c in ("nox", "flow")
    ] + [((pl.col("o2") - usual("o2")).abs() < params["o2_change"]).fill_null(value=True)]
    staged = hourly.with_columns(
        low.alias("p_low"), typical.alias("ratio_usual"), usual("so2").alias("so2_usual")
    ).with_columns(
        (
            (pl.col("ratio") <= pl.col("p_low"))
            & (pl.col("ratio") < (1 - params["fall"]) * pl.col("ratio_usual"))
            & pl.all_horizontal(steady)
            & pl.col("operating")
            & ~pl.col("marked")
        ).alias("suppressed"),
        pl.lit(SO2).alias("factor"),
        pl.lit(3600).alias("step"),
    )
    found = runs(
        staged.rename({"hour": "time"}),
        pl.col("suppressed"),
        aggs=[
            pl.col("so2").min().alias("low"),
            pl.col("so2_usual").first().alias("usual"),
            pl.col("ratio").min().alias("ratio"),
            pl.col("ratio_usual").first().alias("ratio_usual"),
        ],
    ).filter(pl.col("n") >= params["hours"])
    return finish(
        found.with_columns(
            (0.7 + 0.05 * pl.col("n")).clip(0.7, 0.9).alias("score"),
            pl.format(
                "SO2 在 {}–{} 降至 {}（通常 {}），SO2/NOx 比值 {}，远低于通常的 {}，"
                "同期 NOx、O2、流量正常，疑似试剂或冷凝器干扰",
                clock(pl.col("start")),
                clock(pl.col("end")),
                number(pl.col("low")),
                number(pl.col("usual")),
                number(pl.col("ratio")),
                number(pl.col("ratio_usual")),
            ).alias("summary"),
        ),
        "R18",
    )
