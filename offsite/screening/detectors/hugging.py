"""R08 贴限排放: on a day, an abnormal share of the valid hourly means sits just under the limit."""

from __future__ import annotations

from typing import Any

import polars as pl

from offsite.screening.detectors.common import china_day, valid
from offsite.screening.detectors.common import hourly as common_hourly
from offsite.screening.hits import finish, name, number
from offsite.screening.prepared import Prepared


def detect(p: Prepared, params: dict[str, Any]) -> pl.DataFrame:
    hourly = common_hourly(
        valid(p.pollutants)
        .filter(pl.col("limit").is_not_null() & pl.col("operating") & ~pl.col("marked"))
        .with_columns(pl.col("limit_corrected").cast(pl.Float64).alias("corrected")),
        ["value", "limit", "limit_nominal", "corrected"],
    )
    band = (pl.col("value") >= params["band_low"] * pl.col("limit")) & (pl.col("value") < pl.col("limit"))
    days = (
        hourly.with_columns(china_day(pl.col("hour")).alias("day"), band.alias("in_band"))
        .group_by("mn", "factor", "day")
        .agg(
            pl.len().alias("hours"),
            pl.col("in_band").mean().alias("share"),
            pl.col("hour").filter(pl.col("in_band")).min().alias("start"),
            (pl.col("hour").filter(pl.col("in_band")).max() + pl.duration(hours=1)).alias("end"),
            pl.col("limit_nominal").first().alias("limit"),
            pl.col("corrected").first(),
        )
        .filter((pl.col("hours") >= params["min_hours"]) & (pl.col("share") > params["share"]))
    )
    return finish(
        days.with_columns(
            (0.5 + 0.5 * ((pl.col("share") - params["share"]) / (1 - params["share"])).clip(0, 1)).alias("score"),
            pl.format(
                "{} 在 {} 有 {}% 的有效小时{}落在限值 {} 的 {}%–100% 之间（贴限排放）",
                name(pl.col("factor")),
                pl.col("day").cast(pl.String),
                (pl.col("share") * 100).round(0).cast(pl.Int64).cast(pl.String),
                pl.when(pl.col("corrected") > 0.5).then(pl.lit("均值（按折算浓度）")).otherwise(pl.lit("均值")),
                number(pl.col("limit")),
                int(params["band_low"] * 100),
            ).alias("summary"),
        ),
        "R08",
    )
