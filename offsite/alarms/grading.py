"""Exceedance days and the 30-day grading (blue, yellow, orange, red), vectorised with Polars.

A day is an exceedance day for an outlet × factor when its valid, unmarked daily value is above
the limit or below its lower bound (pH) (marked data never count: MEE 2022 No. 21). A unit's level
on a day comes from its exceedance days in the 30 days ending that day: 1–2 blue, 3–6 yellow,
7–9 orange, ≥ 10 red (bands configurable; the mission's numbers, no public source found —
screening-rules.md §3).
Each graded day carries the worst exceedance of its window (the highest C / L), the one a message
names with its 超标倍数.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import polars as pl

LEVELS = ("none", "blue", "yellow", "orange", "red")
WORST = ("outlet", "factor", "value", "limit", "ratio", "multiple")
"""The worst exceedance behind a graded day's level: outlet, factor, the judged value, the limit it
crossed (the lower bound for a value below one), C / L and (C − L) / L (none for a range)."""


@dataclass(frozen=True, slots=True)
class Bands:
    """Lowest count of exceedance days for each level."""

    blue: int = 1
    yellow: int = 3
    orange: int = 7
    red: int = 10
    window_days: int = 30
    once_per_unit: bool = True
    """A day counts once per unit however many outlets and factors exceeded (False: once per
    outlet × factor)."""

    def level(self) -> pl.Expr:
        days = pl.col("days")
        return (
            pl.when(days >= self.red)
            .then(pl.lit("red"))
            .when(days >= self.orange)
            .then(pl.lit("orange"))
            .when(days >= self.yellow)
            .then(pl.lit("yellow"))
            .when(days >= self.blue)
            .then(pl.lit("blue"))
            .otherwise(pl.lit("none"))
        )


def exceedance_days(daily: pl.DataFrame) -> pl.DataFrame:
    """Rows of ``daily`` (unit, outlet, factor, day, value, limit, valid, marked; optionally lower)
    that exceed: above the upper limit or below the lower one."""
    above = pl.col("limit").is_not_null() & (pl.col("value") > pl.col("limit"))
    if "lower" in daily.columns:
        above = above | (pl.col("lower").is_not_null() & (pl.col("value") < pl.col("lower")))
    return daily.filter(pl.col("valid") & ~pl.col("marked") & above.fill_null(value=False))


def grade(
    daily: pl.DataFrame, first: date, last: date, bands: Bands | None = None, *, also: Iterable[int] = ()
) -> pl.DataFrame:
    """Per unit and day from ``first`` to ``last``: the window's exceedance days, the level and the
    window's worst exceedance (``WORST`` columns, null on a day without any).

    ``daily`` needs columns unit, outlet, factor, day (date), value, limit, valid, marked (and may
    have lower, ratio); days before ``first`` count toward the first windows. Units in ``also`` are
    graded even without a daily value in the window (a unit with an alarm whose data stopped: its
    count falls to zero).
    """
    bands = bands or Bands()
    exceeded = exceedance_days(daily)
    counted = (
        exceeded.select("unit", "day").unique()
        if bands.once_per_unit
        else exceeded.group_by(["unit", "day"]).agg(pl.len().alias("n"))
    )
    if bands.once_per_unit:
        counted = counted.with_columns(pl.lit(1, pl.UInt32).alias("n"))
    start = first.toordinal() - bands.window_days + 1
    calendar = pl.DataFrame({"day": pl.date_range(date.fromordinal(start), last, "1d", eager=True)})
    extra = pl.Series("unit", list(also), dtype=daily.schema["unit"])
    units = pl.concat([daily.select("unit"), extra.to_frame()]).unique()
    grid = units.join(calendar, how="cross").join(counted, on=["unit", "day"], how="left").sort(["unit", "day"])
    rolled = grid.with_columns(
        pl.col("n").fill_null(0).rolling_sum(bands.window_days, min_samples=1).over("unit").alias("days")
    )
    graded = (
        rolled.filter(pl.col("day") >= first)
        .with_columns(pl.col("days").cast(pl.Int64), bands.level().alias("level"))
        .select("unit", "day", "days", "level")
    )
    return _with_worst(graded, exceeded, bands.window_days)


def _with_worst(graded: pl.DataFrame, exceeded: pl.DataFrame, window_days: int) -> pl.DataFrame:
    """Each graded day with the highest-C/L exceedance of its window; an exceedance without a
    ratio (below a pH bound) only where the window holds nothing else."""
    crossed = pl.col("limit")
    if "lower" in exceeded.columns:
        crossed = pl.when(pl.col("lower").is_not_null() & (pl.col("value") < pl.col("lower"))).then(pl.col("lower"))
        crossed = crossed.otherwise(pl.col("limit"))
    if "ratio" in exceeded.columns:
        ratio = pl.col("ratio")
    else:
        ratio = pl.when(pl.col("limit") > 0).then(pl.col("value") / pl.col("limit"))
    candidates = exceeded.select(
        "unit",
        pl.col("day").alias("seen"),
        "outlet",
        "factor",
        pl.col("value").cast(pl.Float64),
        crossed.cast(pl.Float64).alias("limit"),
        ratio.cast(pl.Float64).alias("ratio"),
    )
    worst = (
        graded.filter(pl.col("days") > 0)
        .select("unit", "day")
        .join(candidates, on="unit")
        .filter((pl.col("seen") <= pl.col("day")) & (pl.col("seen") > pl.col("day") - pl.duration(days=window_days)))
        .sort(["ratio", "seen"], descending=True, nulls_last=True)
        .group_by(["unit", "day"], maintain_order=True)
        .first()
        .with_columns((pl.col("ratio") - 1.0).alias("multiple"))
        .select("unit", "day", *WORST)
    )
    return graded.join(worst, on=["unit", "day"], how="left").sort(["unit", "day"])


def changes(graded: pl.DataFrame) -> pl.DataFrame:
    """The days a unit's level changed: an alarm opens, rises, falls or clears there."""
    return (
        graded.sort(["unit", "day"])
        .with_columns(pl.col("level").shift(1).over("unit").fill_null("none").alias("previous"))
        .filter(pl.col("level") != pl.col("previous"))
        .select("unit", "day", "previous", "level", "days")
    )
