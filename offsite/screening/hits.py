"""A detector's output — hits: one row per rule firing on a window of one device's series — and
the run-finding every detector shares."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from offsite.hj212.codes.factors import FACTORS
from offsite.screening.detectors.common import new_series

HITS = pl.Schema(
    {
        "rule": pl.String(),
        "mn": pl.String(),
        "factor": pl.String(),
        "start": pl.Datetime("us", "UTC"),
        "end": pl.Datetime("us", "UTC"),
        "score": pl.Float64(),
        "summary": pl.String(),
    }
)
"""``end`` is exclusive; ``score`` in 0–1 ranks the review queue; ``summary`` is one zh-CN line
with the numbers that made the rule fire."""

SHORT = {
    "a21026": "SO2",
    "a21002": "NOx",
    "a34013": "颗粒物",
    "a19001": "O2",
    "a00000": "烟气流量",
    "w01018": "COD",
    "w21003": "氨氮",
    "w21011": "总磷",
    "w21001": "总氮",
    "w01001": "pH",
    "w00000": "废水流量",
    "power:production": "生产设施用电",
    "power:treatment": "治污设施用电",
}


NAMES = SHORT | {code: info.name_zh for code, info in FACTORS.items() if code not in SHORT}
"""Each factor as an officer reads it: SO2, COD, 氨氮 …"""


def name(factor: pl.Expr) -> pl.Expr:
    """The factor as an officer reads it (the code where none is known)."""
    return factor.replace_strict(NAMES, default=factor, return_dtype=pl.String)


def unit(factor: pl.Expr) -> pl.Expr:
    units = {code: info.unit for code, info in FACTORS.items()}
    return factor.replace_strict(units, default=pl.lit(""), return_dtype=pl.String)


def clock(moment: pl.Expr) -> pl.Expr:
    """China time, as in 11-28 10:14."""
    return moment.dt.convert_time_zone("Asia/Shanghai").dt.strftime("%m-%d %H:%M")


def number(value: pl.Expr) -> pl.Expr:
    """Three decimals below 1 (detection limits such as 0.025 mg/L), two below 100, else one."""
    magnitude = value.abs()
    rounded = pl.when(magnitude < 1).then(value.round(3)).when(magnitude < 100).then(value.round(2))
    return rounded.otherwise(value.round(1)).cast(pl.String)


def runs(
    frame: pl.DataFrame, condition: pl.Expr, aggs: Sequence[pl.Expr] = (), keys: Sequence[str] = ("mn", "factor")
) -> pl.DataFrame:
    """The maximal runs of consecutive readings (``frame`` sorted by keys and time — each series'
    rows together — with ``step``)
    for which ``condition`` holds; a reading missing (a gap longer than 1.5 steps) ends a run.

    Columns: the keys, ``start``, ``end`` (last reading + step), ``n`` (readings), ``step`` and
    ``aggs`` computed over the run's rows.
    """
    keys = list(keys)
    # Only the readings that satisfy the condition are kept (the condition is evaluated on the
    # whole frame first, so shifts in it see every reading); a run then ends wherever the kept
    # readings are more than 1.5 steps apart — a reading that failed the condition, or one missing
    # — or the series changes. The frame is sorted by series, so the run numbers count on across
    # series and no grouping is needed.
    kept = frame.lazy().filter(condition.fill_null(value=False))
    apart = (pl.col("time").diff().dt.total_seconds() > 1.5 * pl.col("step")).fill_null(value=True)
    numbered = kept.with_columns((apart | new_series(tuple(keys))).cast(pl.Int64).cum_sum().alias("_run"))
    return (
        numbered.group_by([*keys, "_run"], maintain_order=True)
        .agg(
            pl.col("time").first().alias("start"),
            (pl.col("time").last() + pl.duration(seconds=pl.col("step").last())).alias("end"),
            pl.len().alias("n"),
            pl.col("step").last().alias("step"),
            *aggs,
        )
        .drop("_run")
        .collect()
    )


def empty() -> pl.DataFrame:
    return pl.DataFrame(schema=HITS)


def finish(frame: pl.DataFrame, rule: str) -> pl.DataFrame:
    """A detector's rows in the hits schema."""
    return frame.with_columns(pl.lit(rule).alias("rule")).select(HITS.names()).cast(HITS)
