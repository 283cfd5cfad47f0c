"""R04 超量程/量程压低: (a) over-range (T) readings, or readings pinned at the range, several times a
day — a range lowered to cap what the analyser can report; (b) the range, slope or intercept
changed (as the device reported by 3020) with no maintenance or calibration mark around it."""

from __future__ import annotations

from typing import Any

import polars as pl

from offsite.screening.detectors.common import china_day
from offsite.screening.hits import HITS, finish, name, number
from offsite.screening.prepared import Prepared, kinds_in_use

PARAMETERS = {"i13001": "量程", "i13007": "截距", "i13008": "斜率"}


def detect(p: Prepared, params: dict[str, Any]) -> pl.DataFrame:
    return pl.concat([_capped(p, params), _changed(p, params)])


def _changed(p: Prepared, params: dict[str, Any]) -> pl.DataFrame:
    changes = p.inputs.changes.filter(pl.col("info").is_in(list(PARAMETERS)))
    if changes.is_empty():
        return pl.DataFrame(schema=HITS)
    around = pl.duration(hours=params["mark_hours"])
    # a range changed inside an analyser's own mark (maintenance, calibration, its fault) is explained
    marks = p.inputs.marks.filter(pl.col("kind").is_in(kinds_in_use().device_keys()))
    explained = (
        changes.with_row_index("change")
        .join(marks.select("mn", pl.col("start").alias("ms"), pl.col("end").alias("me")), on="mn")
        .filter((pl.col("time") >= pl.col("ms") - around) & (pl.col("time") < pl.col("me") + around))
        .select("change")
        .unique()
    )
    unexplained = changes.with_row_index("change").join(explained, on="change", how="anti")
    return finish(
        unexplained.with_columns(
            pl.col("time").alias("start"),
            (pl.col("time") + pl.duration(minutes=1)).alias("end"),
            pl.when(pl.col("info") == "i13001").then(0.75).otherwise(0.65).alias("score"),
            pl.format(
                "{} 分析仪{}于 {} 由 {} 改为 {}，前后无维护或校准标记",
                name(pl.col("factor")),
                pl.col("info").replace_strict(PARAMETERS, return_dtype=pl.String),
                pl.col("time").dt.convert_time_zone("Asia/Shanghai").dt.strftime("%m-%d %H:%M"),
                pl.col("before"),
                pl.col("after"),
            ).alias("summary"),
        ),
        "R04",
    )


def _capped(p: Prepared, params: dict[str, Any]) -> pl.DataFrame:
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
