"""R11 视频缺失 + 数据异常: the camera was offline while the data looked wrong — overlapping
(within a tolerance) another rule's hit or a reading above the limit."""

from __future__ import annotations

from typing import Any

import polars as pl

from offsite.screening.hits import HITS, clock, empty, finish, name
from offsite.screening.prepared import Prepared


def exceedances(p: Prepared) -> pl.DataFrame:
    """``rule`` (= "exceedance"), ``mn, factor, start, end``: the readings above their limit, of
    the devices with a video outage (the only ones R11 looks at)."""
    watched = p.pollutants.filter(pl.col("mn").is_in(p.inputs.video["mn"].unique().implode()))
    return watched.filter(
        pl.col("limit").is_not_null() & (pl.col("value") > pl.col("limit")) & ~pl.col("marked")
    ).select(
        pl.lit("exceedance").alias("rule"),
        "mn",
        "factor",
        pl.col("time").alias("start"),
        (pl.col("time") + pl.duration(seconds=pl.col("step"))).alias("end"),
    )


def detect(video: pl.DataFrame, exceeded: pl.DataFrame, params: dict[str, Any], hits: pl.DataFrame) -> pl.DataFrame:
    """``video``: the outages (``mn, start, end``); ``exceeded``: from ``exceedances``; ``hits``:
    the other rules'."""
    if video.is_empty():
        return empty()
    tolerance = pl.duration(minutes=params["tolerance_minutes"])
    others = pl.concat([hits.filter(pl.col("rule") != "R11").select(exceeded.columns), exceeded])
    joined = (
        video.join(others.rename({"start": "hit_start", "end": "hit_end"}), on="mn")
        .with_columns(
            pl.min_horizontal("end", pl.col("hit_end") + tolerance).alias("o_end"),
            pl.max_horizontal("start", pl.col("hit_start") - tolerance).alias("o_start"),
        )
        .filter((pl.col("o_end") - pl.col("o_start")).dt.total_minutes() >= params["min_overlap_minutes"])
    )
    if joined.is_empty():
        return pl.DataFrame(schema=HITS)
    per_outage = joined.group_by("mn", "start", "end").agg(
        pl.col("factor").filter(pl.col("factor") != "*").first().fill_null("*").alias("factor"),
        # the readings above the limit are named as an officer names them
        pl.col("rule").replace({"exceedance": "超标"}).unique().sort().str.join("、").alias("with"),
    )
    return finish(
        per_outage.with_columns(
            pl.lit(0.6).alias("score"),
            pl.format(
                "{}–{} 视频离线，同期 {} 数据异常（{}）",
                clock(pl.col("start")),
                clock(pl.col("end")),
                name(pl.col("factor")),
                pl.col("with"),
            ).alias("summary"),
        ),
        "R11",
    )
