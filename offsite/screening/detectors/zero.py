"""R02 零值/检出限附近: readings at or below the detection limit for long while the plant
operates (with O2 near ambient and flow present: the sampling line is off); R03 负值: negative
concentrations."""

from __future__ import annotations

from typing import Any

import polars as pl

from offsite.screening.detectors.common import operation_known, points, ramp, unless_confirmed, valid
from offsite.screening.hits import clock, empty, finish, name, number, runs, unit
from offsite.screening.prepared import Prepared


def detect_zero(p: Prepared, params: dict[str, Any]) -> pl.DataFrame:
    defaults = params["detection_limit"]
    frame = valid(p.pollutants).with_columns(
        pl.coalesce(
            "detection_limit", pl.col("factor").replace_strict(defaults, default=None, return_dtype=pl.Float64)
        ).alias("dl")
    )
    frame = frame.filter(pl.col("dl").is_not_null())
    if frame.is_empty():
        return empty()
    low = (pl.col("value") <= pl.col("dl")) & pl.col("operating")
    ambient = (pl.col("o2") >= params["o2_disconnected"]) & (pl.col("flow") > 0)
    found = runs(
        frame,
        low,
        aggs=[
            pl.col("value").max().alias("top"),
            pl.col("dl").first().alias("dl"),
            ambient.fill_null(value=False).mean().alias("ambient"),
            pl.col("o2").mean().alias("o2"),
            operation_known(),
        ],
    ).with_columns(points(params["minutes"], params["hours"]).alias("needed"))
    found = found.filter(pl.col("n") >= pl.col("needed"))
    probe = pl.col("ambient") > 0.5
    score, note = unless_confirmed(
        (ramp(pl.col("n"), pl.col("needed")) + pl.when(probe).then(0.15).otherwise(0.0)).clip(0, 1)
    )
    return finish(
        found.with_columns(
            score.alias("score"),
            pl.format(
                "{} 在 {}–{} 持续处于检出限（{}）以下，最高 {} {}（{} 个读数）{}{}",
                name(pl.col("factor")),
                clock(pl.col("start")),
                clock(pl.col("end")),
                number(pl.col("dl")),
                number(pl.col("top")),
                unit(pl.col("factor")),
                pl.col("n"),
                pl.when(probe)
                .then(pl.format("，同期 O2 {}% 且有流量，疑似采样管脱落", number(pl.col("o2"))))
                .otherwise(pl.lit("")),
                note,
            ).alias("summary"),
        ),
        "R02",
    )


def detect_negative(p: Prepared, params: dict[str, Any]) -> pl.DataFrame:
    frame = p.pollutants.filter(pl.col("value").is_not_null())
    found = runs(frame, pl.col("value") < 0, aggs=[pl.col("value").min().alias("low")])
    return finish(
        found.with_columns(
            pl.lit(0.5).alias("score"),
            pl.format(
                "{} 在 {}–{} 出现负值，最低 {} {}（{} 个读数）",
                name(pl.col("factor")),
                clock(pl.col("start")),
                clock(pl.col("end")),
                number(pl.col("low")),
                unit(pl.col("factor")),
                pl.col("n"),
            ).alias("summary"),
        ),
        "R03",
    )
