"""R01 恒值: the same reading for a long run while the plant operates (a stuck analyser, or a
value held by altered coefficients)."""

from __future__ import annotations

from typing import Any

import polars as pl

from offsite.screening.detectors.common import lag, operation_known, points, unless_confirmed, valid
from offsite.screening.hits import clock, empty, finish, name, number, runs, unit
from offsite.screening.prepared import Prepared


def detect(p: Prepared, params: dict[str, Any]) -> pl.DataFrame:
    frame = valid(p.pollutants).filter(pl.col("value") > params["exclude_at_or_below"])
    if frame.is_empty():
        return empty()
    same = (pl.col("value") - lag("value")).abs() <= params["resolution"]
    found = runs(frame, same & pl.col("operating"), aggs=[pl.col("value").first().alias("level"), operation_known()])
    # the run's first reading is the one before the first repeat
    found = found.with_columns(
        (pl.col("n") + 1).alias("n"), (pl.col("start") - pl.duration(seconds=pl.col("step"))).alias("start")
    )
    hours = pl.when(pl.col("factor").str.starts_with("w")).then(params["water_hours"]).otherwise(params["hours"])
    needed = pl.when(pl.col("step") < 3600).then(points(params["minutes"], params["hours"])).otherwise(hours)
    found = found.with_columns(needed.alias("needed")).filter(pl.col("n") >= pl.col("needed"))
    length = (pl.col("end") - pl.col("start")).dt.total_hours()
    strong = pl.max_horizontal(pl.lit(params["strong_hours"]), pl.col("needed") * pl.col("step") / 3600 + 1)
    score, note = unless_confirmed(
        0.5 + 0.5 * ((length - pl.col("needed") * pl.col("step") / 3600) / strong).clip(0, 1)
    )
    return finish(
        found.with_columns(
            score.alias("score"),
            pl.format(
                "{} 在 {}–{} 恒定为 {} {}（连续 {} 个读数）{}",
                name(pl.col("factor")),
                clock(pl.col("start")),
                clock(pl.col("end")),
                number(pl.col("level")),
                unit(pl.col("factor")),
                pl.col("n"),
                note,
            ).alias("summary"),
        ),
        "R01",
    )
