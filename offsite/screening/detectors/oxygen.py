"""R09 O2/稀释: O2 jumps while the pollutant falls in proportion, so the O2-corrected value hardly
moves: air let into the flue dilutes the reading, not the emission."""

from __future__ import annotations

from typing import Any

import polars as pl

from offsite.screening.detectors.common import valid
from offsite.screening.hits import clock, empty, finish, name, number, runs
from offsite.screening.prepared import Prepared

BASELINE_HOURS = 24


def detect(p: Prepared, params: dict[str, Any]) -> pl.DataFrame:
    hourly = (
        valid(p.pollutants)
        .filter(pl.col("o2").is_not_null() & (pl.col("o2") < 20.5))
        .with_columns(pl.col("time").dt.truncate("1h").alias("hour"))
        .group_by("mn", "factor", "hour")
        .agg(pl.col("value").mean(), pl.col("o2").mean())
        .sort("mn", "factor", "hour")
    )
    if hourly.is_empty():
        return empty()
    ref = params["o2_ref"]
    keys = ("mn", "factor")

    def base(column: str) -> pl.Expr:
        return pl.col(column).shift(1).rolling_median(BASELINE_HOURS, min_samples=6).over(keys)

    staged = hourly.with_columns(
        (pl.col("value") * (21 - ref) / (21 - pl.col("o2"))).alias("corrected"),
    ).with_columns(base("o2").alias("o2_base"), base("value").alias("value_base"), base("corrected").alias("corr_base"))
    diluted = (
        (pl.col("o2") - pl.col("o2_base") > params["o2_rise"])
        & (pl.col("value") < (1 - params["pollutant_fall"]) * pl.col("value_base"))
        & ((pl.col("corrected") / pl.col("corr_base") - 1).abs() < params["corrected_change"])
    )
    staged = staged.rename({"hour": "time"}).with_columns(pl.lit(3600).alias("step"))
    found = runs(
        staged,
        diluted,
        aggs=[
            pl.col("o2_base").first().alias("o2_before"),
            pl.col("o2").mean().alias("o2_during"),
            pl.col("value_base").first().alias("before"),
            pl.col("value").mean().alias("during"),
        ],
    )
    return finish(
        found.with_columns(
            (0.7 + 0.05 * pl.col("n")).clip(0.7, 0.9).alias("score"),
            pl.format(
                "{} 在 {}–{} 由 {} 降至 {}，同期 O2 由 {}% 升至 {}%，折算浓度基本不变，疑似稀释",
                name(pl.col("factor")),
                clock(pl.col("start")),
                clock(pl.col("end")),
                number(pl.col("before")),
                number(pl.col("during")),
                number(pl.col("o2_before")),
                number(pl.col("o2_during")),
            ).alias("summary"),
        ),
        "R09",
    )
