"""R06 数据缺失: the device sends nothing (or only B/F readings) for an hour or more while the
plant operated before and after; worse when the last reading before the silence was near or over
the limit (the data that would show the exceedance never arrive)."""

from __future__ import annotations

from typing import Any

import polars as pl

from offsite.screening.detectors.common import UNKNOWN_OPERATION
from offsite.screening.hits import clock, empty, finish, name, number
from offsite.screening.prepared import Prepared, moment

MISSING_FLAGS = ("B", "F")


def detect(p: Prepared, params: dict[str, Any]) -> pl.DataFrame:
    readings = p.pollutants.filter(
        pl.col("value").is_not_null() & ~pl.col("flag").is_in(MISSING_FLAGS).fill_null(value=False)
    )
    # the device's moments with a reading of any factor, in device and time order (on the
    # integer moment: hashing and sorting it costs a fraction of the device string and the time)
    present = (
        readings.select(moment().alias("_k"), "mn", "time", "operating", "known", "step")
        .unique("_k", keep="first")
        .sort("_k")
    )
    if present.is_empty():
        return empty()

    def after(column: str) -> pl.Expr:
        return pl.when(pl.col("mn") == pl.col("mn").shift(-1)).then(pl.col(column).shift(-1))

    gaps = present.with_columns(
        after("time").alias("next"),
        after("operating").alias("operating_after"),
        (pl.col("known") & after("known")).fill_null(value=False).alias("known"),
    ).filter(
        ((pl.col("next") - pl.col("time")).dt.total_seconds() - pl.col("step") >= params["hours"] * 3600)
        & pl.col("operating")
        & pl.col("operating_after")
    )
    # the highest reading, against its limit, at the last moment before each gap (only those)
    last = (
        readings.join(gaps.select("mn", "time"), on=["mn", "time"], how="semi")
        .with_columns((pl.col("value") / pl.col("limit")).alias("ratio"))
        .sort("ratio", descending=True, nulls_last=True)
        .group_by("mn", "time")
        .agg(
            pl.col("ratio").first(),
            pl.col("factor").first().alias("high_factor"),
            pl.col("value").first().alias("high_value"),
            pl.col("limit_nominal").first().alias("high_limit"),
        )
    )
    gaps = gaps.join(last, on=["mn", "time"], how="left")
    strategic = (pl.col("ratio") >= params["alpha"]).fill_null(value=False)
    missing = (pl.col("next") - pl.col("time")).dt.total_seconds() / 3600 - pl.col("step") / 3600
    return finish(
        gaps.with_columns(
            (pl.col("time") + pl.duration(seconds=pl.col("step"))).alias("start"),
            pl.col("next").alias("end"),
            pl.when(strategic).then(pl.col("high_factor")).otherwise(pl.lit("*")).alias("factor"),
            pl.when(strategic)
            .then(0.9)
            .when(pl.col("known"))
            .then((0.55 + 0.05 * missing).clip(0.55, 0.8))
            .otherwise(0.4)
            .alias("score"),
            pl.format(
                "{}–{} 无数据 {} 小时，{}{}",
                clock(pl.col("time") + pl.duration(seconds=pl.col("step"))),
                clock(pl.col("next")),
                number(missing),
                pl.when(pl.col("known")).then(pl.lit("前后均在生产")).otherwise(pl.lit(UNKNOWN_OPERATION)),
                pl.when(strategic)
                .then(
                    pl.format(
                        "；中断前 {} 为 {}（限值 {}）",
                        name(pl.col("high_factor")),
                        number(pl.col("high_value")),
                        number(pl.col("high_limit")),
                    )
                )
                .otherwise(pl.lit("")),
            ).alias("summary"),
        ),
        "R06",
    )
