"""R17 比对偏差: a comparison test (a reference measurement beside the analyser) differs from the
online value by more than the allowed error: a relative share, with an absolute floor for low
concentrations, per factor (HJ 75-2017 / HJ 355-2019 comparison criteria, as recalled [R])."""

from __future__ import annotations

from typing import Any

import polars as pl

from offsite.screening.hits import HITS, finish, name, number
from offsite.screening.prepared import Prepared


def detect(p: Prepared, params: dict[str, Any]) -> pl.DataFrame:
    tests = p.inputs.comparisons
    if tests.is_empty():
        return pl.DataFrame(schema=HITS)
    relative = pl.col("factor").replace_strict(
        params["relative"], default=params["default_relative"], return_dtype=pl.Float64
    )
    floor = pl.col("factor").replace_strict(params["absolute"], default=0.0, return_dtype=pl.Float64)
    allowed = pl.max_horizontal(relative * pl.col("reference").abs(), floor)
    deviation = pl.col("online") - pl.col("reference")
    failed = tests.with_columns(allowed.alias("allowed"), deviation.alias("deviation")).filter(
        pl.col("deviation").abs() > pl.col("allowed")
    )
    share = (pl.col("deviation") / pl.col("reference").abs()) * 100
    return finish(
        failed.with_columns(
            pl.col("time").alias("start"),
            (pl.col("time") + pl.duration(hours=1)).alias("end"),
            # under-reading is what fraud looks like; over-reading is a fault
            pl.when(pl.col("deviation") < 0).then(0.8).otherwise(0.6).alias("score"),
            pl.format(
                "{} 比对监测（{}）参比值 {}，在线值 {}，偏差 {}%，超过允许误差 {}",
                name(pl.col("factor")),
                pl.col("source"),
                number(pl.col("reference")),
                number(pl.col("online")),
                share.round(0).cast(pl.Int64).cast(pl.String),
                number(pl.col("allowed")),
            ).alias("summary"),
        ),
        "R17",
    )
