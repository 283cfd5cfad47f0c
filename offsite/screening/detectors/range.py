"""R04 超量程/量程压低 (a): over-range (T) readings, or readings pinned at the range, several times a
day — a range lowered to cap what the analyser can report."""

from __future__ import annotations

from typing import Any

import polars as pl

from offsite.screening.detectors.common import china_day
from offsite.screening.hits import finish, name, number
from offsite.screening.prepared import Prepared


def detect(p: Prepared, params: dict[str, Any]) -> pl.DataFrame:
    pinned = pl.col("range_max").is_not_null() & (pl.col("value") >= params["pinned_share"] * pl.col("range_max"))
    capped = p.pollutants.filter((pl.col("flag") == "T") | pinned.fill_null(value=False))
    per_day = (
        capped.with_columns(china_day(pl.col("time")).alias("day"))
        .group_by("mn", "factor", "day")
        .agg(
            pl.len().alias("n"),
            pl.col("time").min().alias("start"),
            (pl.col("time").max() + pl.duration(seconds=pl.col("step").max())).alias("end"),
            pl.col("value").max().alias("top"),
        )
        .filter(pl.col("n") >= params["per_day"])
    )
    return finish(
        per_day.with_columns(
            (0.5 + 0.4 * (pl.col("n") / (4 * params["per_day"])).clip(0, 1)).alias("score"),
            pl.format(
                "{} 在 {} 有 {} 个读数超量程或贴量程（最高 {}），疑似量程被压低",
                name(pl.col("factor")),
                pl.col("day").cast(pl.String),
                pl.col("n"),
                number(pl.col("top")),
            ).alias("summary"),
        ),
        "R04",
    )
