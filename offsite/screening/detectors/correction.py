"""R19 折算失效: a pollutant whose limit is on the reference-O2 basis, read while the plant runs,
with no correction possible — no O2 reading, O2 at or above 19.5 % (HJ 75: no correction there),
or no reference O2 set for the outlet. Such readings are not judged against the limit at all
(judging the measured value would let a diluted or broken O2 reading pass several times low), so
each run of them is raised here and never escapes silently."""

from __future__ import annotations

from typing import Any

import polars as pl

from offsite.screening.detectors.common import points, valid
from offsite.screening.hits import clock, empty, finish, name, number, runs
from offsite.screening.prepared import Prepared


def detect(p: Prepared, params: dict[str, Any]) -> pl.DataFrame:
    frame = valid(p.pollutants).filter(pl.col("limit_nominal").is_not_null())
    if frame.is_empty() or not frame["uncorrectable"].any():
        return empty()
    found = runs(
        frame,
        pl.col("uncorrectable") & pl.col("operating") & ~pl.col("marked"),
        aggs=[
            pl.col("o2_ref").is_null().all().alias("no_ref"),
            pl.col("o2").is_null().all().alias("no_o2"),
            pl.col("o2").max().alias("o2_top"),
        ],
    )
    found = found.filter(pl.col("n") >= points(params["minutes"], params["hours"]))
    hours = (pl.col("end") - pl.col("start")).dt.total_seconds() / 3600
    reason = (
        pl.when(pl.col("no_ref"))
        .then(pl.lit("排口未设基准氧含量"))
        .when(pl.col("no_o2"))
        .then(pl.lit("无氧含量数据"))
        .otherwise(pl.format("氧含量达 {}%，无法折算", number(pl.col("o2_top"))))
    )
    return finish(
        found.with_columns(
            (0.6 + 0.3 * (hours / params["strong_hours"]).clip(0, 1)).alias("score"),
            pl.format(
                "{} 在 {}–{} 执行折算浓度限值但无法折算（{}），该时段不作超标判定，请核查氧含量分析仪",
                name(pl.col("factor")),
                clock(pl.col("start")),
                clock(pl.col("end")),
                reason,
            ).alias("summary"),
        ),
        "R19",
    )
