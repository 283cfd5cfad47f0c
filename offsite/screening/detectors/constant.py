"""R01 恒值: the same reading for a long run while the plant operates (a stuck analyser, or a
value held by altered coefficients)."""

from __future__ import annotations

from typing import Any

import polars as pl

from offsite.screening.detectors.common import points, ramp, valid
from offsite.screening.hits import clock, empty, finish, name, number, runs, unit
from offsite.screening.prepared import Prepared


def detect(p: Prepared, params: dict[str, Any]) -> pl.DataFrame:
    frame = valid(p.pollutants).filter(pl.col("value") > params["exclude_at_or_below"])
    if frame.is_empty():
        return empty()
    same = (pl.col("value") - pl.col("value").shift(1)).over("mn", "factor").abs() <= params["resolution"]
    found = runs(frame, same & pl.col("operating"), aggs=[pl.col("value").first().alias("level")])
    # the run's first reading is the one before the first repeat
    found = found.with_columns(
        (pl.col("n") + 1).alias("n"), (pl.col("start") - pl.duration(seconds=pl.col("step"))).alias("start")
    )
    found = found.with_columns(points(params["minutes"], params["hours"]).alias("needed")).filter(
        pl.col("n") >= pl.col("needed")
    )
    return finish(
        found.with_columns(
            ramp(pl.col("n"), pl.col("needed")).alias("score"),
            pl.format(
                "{} 在 {}–{} 恒定为 {} {}（连续 {} 个读数）",
                name(pl.col("factor")),
                clock(pl.col("start")),
                clock(pl.col("end")),
                number(pl.col("level")),
                unit(pl.col("factor")),
                pl.col("n"),
            ).alias("summary"),
        ),
        "R01",
    )
