"""Clues (问题线索): hits of one device whose windows overlap are joined into one clue.

Its score combines theirs, 1 − Π(1 − s): two independent signs of the same thing are stronger
than either. One rule firing on several factors counts once, at its best. The clue's rule is
the highest-scoring one, and its evidence holds every hit, the parameters in force and the data
window itself."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import polars as pl

from offsite.hj212.times import CST
from offsite.screening.prepared import CONTEXT

SUPPORTING = ["R13"]
"""Rules that test a whole day or month: they support the clues inside their window but do not
join those clues together."""
EVIDENCE_MARGIN = timedelta(minutes=30)
EVIDENCE_POINTS = 2000
"""At most this many readings per factor in a clue's evidence (the window's, then trimmed)."""


def join(hits: pl.DataFrame) -> pl.DataFrame:
    """One row per clue: mn, start, end, score, rule, rules, factor, summary, hits (a list of
    the joined hits as structs), highest score first."""
    if hits.is_empty():
        return pl.DataFrame(
            schema={
                "mn": pl.String,
                "start": pl.Datetime("us", "UTC"),
                "end": pl.Datetime("us", "UTC"),
                "score": pl.Float64,
                "rule": pl.String,
                "rules": pl.List(pl.String),
                "factor": pl.String,
                "summary": pl.String,
                "hits": pl.List(pl.Struct({"rule": pl.String})),
            }
        )
    grouped = _grouped(hits)
    main = ~pl.col("rule").is_in(SUPPORTING)
    pollutant = ~pl.col("factor").is_in(["*", "video"])
    # one rule firing on several factors is one sign, not several: its best hit counts once
    combined = (
        grouped.group_by("mn", "clue", "rule")
        .agg(pl.col("score").max())
        .group_by("mn", "clue")
        .agg((1 - (1 - pl.col("score")).product()).alias("score"))
    )
    clues = (
        grouped.sort("score", descending=True)
        .group_by("mn", "clue")
        .agg(
            # a supporting hit's long window (a day, a month) does not stretch the clue's
            pl.coalesce(pl.col("start").filter(main).min(), pl.col("start").min()).alias("start"),
            pl.coalesce(pl.col("end").filter(main).max(), pl.col("end").max()).alias("end"),
            pl.col("rule").first().alias("rule"),
            pl.col("rule").unique().sort().alias("rules"),
            pl.col("factor").filter(pollutant).first().fill_null("*").alias("factor"),
            pl.col("summary").unique(maintain_order=True).str.join("；").alias("summary"),
            pl.struct("rule", "factor", "start", "end", "score", "summary").alias("hits"),
        )
    )
    return (
        clues.join(combined, on=["mn", "clue"])
        .select("mn", "start", "end", "score", "rule", "rules", "factor", "summary", "hits")
        .sort("score", "mn", "start", descending=[True, False, False])
    )


def _grouped(hits: pl.DataFrame) -> pl.DataFrame:
    """Hits numbered by clue (``clue``). Overlapping hits of a device share one. A supporting hit
    (a test over a whole day or month) joins every clue its window overlaps, without joining those
    clues to each other, and stands alone where it overlaps none."""
    main = hits.filter(~pl.col("rule").is_in(SUPPORTING)).sort("mn", "start", "end")
    reach = pl.col("end").cum_max().shift(1).over("mn")
    grouped = main.with_columns(
        (pl.col("start") >= reach).fill_null(value=True).cast(pl.Int32).cum_sum().over("mn").alias("clue")
    )
    support = hits.filter(pl.col("rule").is_in(SUPPORTING)).with_row_index("hit")
    if support.is_empty():
        return grouped
    windows = grouped.group_by("mn", "clue").agg(pl.col("start").min().alias("cs"), pl.col("end").max().alias("ce"))
    attached = (
        support.join(windows, on="mn")
        .filter((pl.col("start") < pl.col("ce")) & (pl.col("end") > pl.col("cs")))
        .drop("cs", "ce")
    )
    after = grouped.group_by("mn").agg(pl.col("clue").max().alias("last"))
    lonely = (
        support.join(attached.select("hit"), on="hit", how="anti")
        .join(after, on="mn", how="left")
        .with_columns(
            (pl.col("last").fill_null(0) + pl.int_range(1, pl.len() + 1).over("mn")).cast(pl.Int32).alias("clue")
        )
        .drop("last")
    )
    columns = [*hits.columns, "clue"]
    return pl.concat([grouped.select(columns), attached.select(columns), lonely.select(columns)])


def records(clues: pl.DataFrame, data: pl.DataFrame, parameters: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The clues as the CLI contract's JSON objects, each with its evidence."""
    out = []
    for clue in clues.iter_rows(named=True):
        rules = clue["rules"]
        out.append(
            {
                "rule": clue["rule"],
                "rules": rules,
                "mn": clue["mn"],
                "factor": clue["factor"],
                "start": _iso(clue["start"]),
                "end": _iso(clue["end"]),
                "score": round(clue["score"], 4),
                "summary": clue["summary"],
                "evidence": {
                    "hits": [
                        {**h, "start": _iso(h["start"]), "end": _iso(h["end"]), "score": round(h["score"], 4)}
                        for h in clue["hits"]
                    ],
                    "parameters": {rule: parameters[rule] for rule in rules if rule in parameters},
                    "data": _window(data, clue),
                },
            }
        )
    return out


def _window(data: pl.DataFrame, clue: dict[str, Any]) -> dict[str, Any]:
    """The readings around the clue: its factor and the context series, each as [time, value, flag]."""
    factors = {clue["factor"], *CONTEXT} if clue["factor"] != "*" else None
    frame = data.filter(
        (pl.col("mn") == clue["mn"])
        & (pl.col("time") >= clue["start"] - EVIDENCE_MARGIN)
        & (pl.col("time") < clue["end"] + EVIDENCE_MARGIN)
    )
    if factors is not None:
        frame = frame.filter(pl.col("factor").is_in(list(factors)))
    series: dict[str, list[list[Any]]] = {}
    for (factor,), part in frame.sort("time").group_by("factor", maintain_order=True):
        rows = part.head(EVIDENCE_POINTS)
        series[str(factor)] = [[_iso(t), v, f] for t, v, f in rows.select("time", "value", "flag").iter_rows()]
    return {"from": _iso(clue["start"] - EVIDENCE_MARGIN), "to": _iso(clue["end"] + EVIDENCE_MARGIN), "series": series}


def _iso(moment: datetime) -> str:
    return moment.astimezone(CST).isoformat()
