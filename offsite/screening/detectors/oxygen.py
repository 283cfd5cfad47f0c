"""R09 O2/稀释: O2 jumps while the pollutant falls in proportion, so the O2-corrected value hardly
moves, and the flow does not fall: air let into the flue dilutes the reading, not the emission.
(A plant turning down also raises O2 and lowers concentrations, but its flow falls with it.)"""

from __future__ import annotations

from typing import Any

import polars as pl

from offsite.screening.detectors.common import hourly as common_hourly
from offsite.screening.detectors.common import lag, new_series, valid
from offsite.screening.hits import clock, empty, finish, name, number, runs
from offsite.screening.prepared import Prepared


def detect(p: Prepared, params: dict[str, Any]) -> pl.DataFrame:
    hourly = common_hourly(
        valid(p.pollutants).filter(pl.col("o2").is_not_null() & (pl.col("o2") < 20.5)), ["value", "o2", "flow"]
    )
    if hourly.is_empty():
        return empty()
    ref = params["o2_ref"]
    staged = hourly.with_columns(
        (pl.col("value") * (21 - ref) / (21 - pl.col("o2"))).alias("corrected"), new_series().cum_sum().alias("_g")
    )

    # the mean of the three hours before, computed once per column: one noisy hour is not a level
    staged = staged.with_columns(
        [
            pl.mean_horizontal([lag(c, k) for k in (1, 2, 3)]).alias(f"{c}_b")
            for c in ("o2", "value", "corrected", "flow")
        ]
    )
    # O2 jumped above its level of the hours before, the pollutant fell, the corrected value held
    # and the flow did not fall
    onset: pl.Expr = (
        (pl.col("o2") - pl.col("o2_b") > params["o2_rise"])
        & (pl.col("value") < (1 - params["pollutant_fall"]) * pl.col("value_b"))
        & ((pl.col("corrected") / pl.col("corrected_b") - 1).abs() < params["corrected_change"])
        & (pl.col("flow") >= (1 - params["flow_fall"]) * pl.col("flow_b")).fill_null(value=True)
    ).fill_null(value=False)
    staged = staged.with_columns(onset.alias("onset")).with_columns(
        pl.when(pl.col("onset")).then(pl.col("o2_b")).forward_fill().over("_g").alias("o2_pre"),
        pl.when(pl.col("onset")).then(pl.col("value_b")).forward_fill().over("_g").alias("value_pre"),
    )
    elevated = (pl.col("o2") - pl.col("o2_pre") > params["o2_rise"]) | pl.col("onset")
    staged = staged.rename({"hour": "time"}).with_columns(pl.lit(3600).alias("step"))
    found = runs(
        staged,
        elevated,
        aggs=[
            pl.col("onset").any().alias("onset"),
            pl.col("o2_pre").first().alias("o2_before"),
            pl.col("o2").mean().alias("o2_during"),
            pl.col("value_pre").first().alias("before"),
            pl.col("value").mean().alias("during"),
        ],
    ).filter(pl.col("onset") & (pl.col("n") >= params["min_hours"]))
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
