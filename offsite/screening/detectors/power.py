"""R12 治污设施用电: the production line draws power while the treatment facility's meter shows it
off (§5 rule 1, 治污设施未运行)."""

from __future__ import annotations

from typing import Any

import polars as pl

from offsite.screening.hits import clock, empty, finish, number, runs
from offsite.screening.prepared import PRODUCTION, TREATMENT, Prepared


def detect(p: Prepared, params: dict[str, Any]) -> pl.DataFrame:
    data = p.inputs.data
    production = data.filter(pl.col("factor") == PRODUCTION).select("mn", "time", pl.col("value").alias("production"))
    treatment = data.filter(pl.col("factor") == TREATMENT).select("mn", "time", pl.col("value").alias("treatment"))
    if production.is_empty() or treatment.is_empty():
        return empty()
    frame = (
        production.sort("mn", "time")
        .join_asof(
            treatment.sort("mn", "time"),
            on="time",
            by="mn",
            strategy="backward",
            tolerance="30m",
            check_sortedness=False,
        )
        .with_columns(pl.col("time").diff().over("mn").dt.total_seconds().mode().first().over("mn").alias("step"))
        .with_columns(pl.lit("power:treatment").alias("factor"))
    )
    running = pl.col("production").filter(pl.col("production") > 0).median().over("mn")
    on = pl.col("production") > params["production_on"] * running
    treating = pl.col("treatment").filter(on).median().over("mn")
    off = pl.col("treatment") < params["treatment_off"] * treating
    frame = frame.with_columns(on.alias("on"), off.alias("off"), treating.alias("normal"))
    found = runs(
        frame,
        pl.col("on") & pl.col("off"),
        aggs=[
            pl.col("production").mean().alias("production"),
            pl.col("treatment").mean().alias("treatment"),
            pl.col("normal").first().alias("normal"),
        ],
    ).filter((pl.col("end") - pl.col("start")).dt.total_minutes() >= params["minutes"])
    minutes = (pl.col("end") - pl.col("start")).dt.total_minutes()
    return finish(
        found.with_columns(
            (0.75 + 0.2 * (minutes / 240).clip(0, 1)).alias("score"),
            pl.format(
                "{}–{} 生产设施用电 {} kW 时治污设施用电仅 {} kW（正常约 {} kW），治污设施疑似停运",
                clock(pl.col("start")),
                clock(pl.col("end")),
                number(pl.col("production")),
                number(pl.col("treatment")),
                number(pl.col("normal")),
            ).alias("summary"),
        ),
        "R12",
    )
