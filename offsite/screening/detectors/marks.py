"""R16 虚假标记: a stop or shut-down mark over hours in which the outlet discharged (flow above a
share of its normal level), and marks filed long after their window began."""

from __future__ import annotations

from typing import Any

import polars as pl

from offsite.screening.hits import HITS, clock, finish, number
from offsite.screening.prepared import Prepared, kinds_in_use

CHECKED = ("stopped", "shutdown", "fault")


def _kind() -> pl.Expr:
    """A mark's kind as the clue's Chinese text names it: the kinds table's term."""
    kinds = kinds_in_use()
    terms = {kind.key: kind.term() for kind in kinds.kinds}
    return pl.col("kind").replace_strict(terms, default=pl.col("kind"), return_dtype=pl.String)


def detect(p: Prepared, params: dict[str, Any]) -> pl.DataFrame:
    marks = p.inputs.marks.with_row_index("mark")
    if marks.is_empty():
        return pl.DataFrame(schema=HITS)
    context = p.context.filter(pl.col("flow").is_not_null())
    normal = (
        context.join(marks.select("mn", "start", "end"), on="mn", how="left")
        .filter(pl.col("start").is_null() | (pl.col("time") < pl.col("start")) | (pl.col("time") >= pl.col("end")))
        .group_by("mn")
        .agg(pl.col("flow").median().alias("normal"))
    )
    inside = (
        marks.filter(pl.col("kind").is_in(CHECKED))
        .join(context, on="mn")
        .filter((pl.col("time") >= pl.col("start")) & (pl.col("time") < pl.col("end")))
        .join(normal, on="mn")
        .join(p.steps, on="mn")
    )
    active = (
        inside.filter(pl.col("flow") > params["active_share"] * pl.col("normal"))
        .group_by("mark", "mn", "start", "end", "kind")
        .agg(
            (pl.col("step").sum() / 3600).alias("hours"),
            pl.col("flow").max().alias("peak"),
            pl.col("normal").first(),
        )
        .filter(pl.col("hours") >= params["min_hours"])
        .with_columns(
            pl.lit(0.8).alias("score"),
            pl.format(
                "{}–{} 的{}标记期内有 {} 小时流量高于正常水平的 {}%（正常 {}，期内最高 {}）",
                clock(pl.col("start")),
                clock(pl.col("end")),
                _kind(),
                number(pl.col("hours")),
                int(params["active_share"] * 100),
                number(pl.col("normal")),
                number(pl.col("peak")),
            ).alias("summary"),
        )
    )
    late_hours = (pl.col("filed_at") - pl.col("start")).dt.total_hours()
    late = marks.filter(pl.col("filed_at").is_not_null() & (late_hours > params["late_hours"])).with_columns(
        pl.lit(0.4).alias("score"),
        pl.format(
            "{}–{} 的{}标记在窗口开始 {} 小时后才填报",
            clock(pl.col("start")),
            clock(pl.col("end")),
            _kind(),
            late_hours.cast(pl.String),
        ).alias("summary"),
    )
    columns = ["mn", "start", "end", "score", "summary"]
    both = pl.concat([active.select(columns), late.select(columns)])
    return finish(both.with_columns(pl.lit("*").alias("factor")), "R16")
