"""R07 长时间维护/校准/故障: M, C or D periods longer than normal, or starting right after a
reading near the limit; R15 手工设定值: manually set (S) values."""

from __future__ import annotations

from typing import Any

import polars as pl

from offsite.screening.detectors.common import china_day, lag
from offsite.screening.hits import clock, empty, finish, name, number, runs
from offsite.screening.prepared import Prepared

LABEL = {"C": "校准", "M": "维护", "D": "故障"}


def detect_long(p: Prepared, params: dict[str, Any]) -> pl.DataFrame:
    frame = p.pollutants.with_columns(
        lag("value").alias("before"),
    )
    found = []
    for flag in ("C", "M", "D"):
        periods = runs(
            frame,
            pl.col("flag") == flag,
            aggs=[
                pl.col("before").first().alias("before"),
                pl.col("limit").first().alias("limit"),
                pl.col("limit_nominal").first().alias("limit_nominal"),
            ],
        ).with_columns(pl.lit(flag).alias("flag"))
        found.append(periods)
    periods = pl.concat(found).with_columns(
        ((pl.col("end") - pl.col("start")).dt.total_seconds() / 3600).alias("hours"),
        china_day(pl.col("start")).alias("day"),
    )
    if periods.is_empty():
        return empty()
    calibration_day = (
        pl.when(pl.col("flag") == "C").then(pl.col("hours").sum().over("mn", "factor", "day", "flag")).otherwise(0.0)
    )
    too_long = (
        (calibration_day > params["calibration_hours_per_day"])
        | ((pl.col("flag") == "M") & (pl.col("hours") > params["maintenance_hours"]))
        | ((pl.col("flag") == "D") & (pl.col("hours") > params["fault_hours"]))
    )
    after_high = pl.col("limit").is_not_null() & (pl.col("before") >= params["alpha"] * pl.col("limit"))
    chosen = periods.filter(too_long | after_high.fill_null(value=False))
    return finish(
        chosen.with_columns(
            pl.when(after_high.fill_null(value=False)).then(0.8).otherwise(0.6).alias("score"),
            pl.format(
                "{} 在 {}–{} 持续{} {} 小时{}",
                name(pl.col("factor")),
                clock(pl.col("start")),
                clock(pl.col("end")),
                pl.col("flag").replace_strict(LABEL, return_dtype=pl.String),
                number(pl.col("hours")),
                pl.when(after_high.fill_null(value=False))
                .then(
                    pl.format(
                        "，开始前读数 {} 已接近限值 {}", number(pl.col("before")), number(pl.col("limit_nominal"))
                    )
                )
                .otherwise(pl.lit("，超过正常时长")),
            ).alias("summary"),
        ),
        "R07",
    )


def detect_manual(p: Prepared, params: dict[str, Any]) -> pl.DataFrame:
    found = runs(p.pollutants, pl.col("flag") == "S", aggs=[pl.col("value").first().alias("level")])
    hours = (pl.col("end") - pl.col("start")).dt.total_seconds() / 3600
    return finish(
        found.with_columns(
            (0.5 + 0.3 * (hours / 4).clip(0, 1)).alias("score"),
            pl.format(
                "{} 在 {}–{} 为手工设定值（S），{} 个读数，首值 {}",
                name(pl.col("factor")),
                clock(pl.col("start")),
                clock(pl.col("end")),
                pl.col("n"),
                number(pl.col("level")),
            ).alias("summary"),
        ),
        "R15",
    )
