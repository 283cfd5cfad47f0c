"""What several detectors need: points in a window, scores, China days."""

from __future__ import annotations

import polars as pl


def points(minutes: float, hours: float) -> pl.Expr:
    """How many readings make the window: ``minutes`` on minute data, ``hours`` on hourly data."""
    step = pl.col("step")
    return pl.when(step < 3600).then(minutes * 60 / step).otherwise(hours * 3600 / step).ceil().cast(pl.Int64)


def ramp(n: pl.Expr, needed: pl.Expr, low: float = 0.6, high: float = 1.0, reach: float = 4.0) -> pl.Expr:
    """A score from ``low`` at the threshold rising to ``high`` at ``reach`` × the threshold."""
    excess = ((n / needed) - 1) / (reach - 1)
    return low + (high - low) * excess.clip(0.0, 1.0)


def china_day(time: pl.Expr) -> pl.Expr:
    """The China-time date of a UTC time. China keeps UTC+8 all year, so adding eight hours is
    exact, and several times cheaper than a time-zone conversion."""
    return (time + pl.duration(hours=8)).dt.date()


def valid(frame: pl.DataFrame) -> pl.DataFrame:
    """Readings a rule may judge: flagged N (or unflagged) with a value."""
    return frame.filter((pl.col("flag").is_null() | (pl.col("flag") == "N")) & pl.col("value").is_not_null())


def hourly(frame: pl.DataFrame, columns: list[str], keys: tuple[str, ...] = ("mn", "factor")) -> pl.DataFrame:
    """Hourly means of ``columns`` per ``keys`` and ``hour``: readings of hourly devices as they are,
    those of minute devices averaged (the commonest case of a province's data costs no grouping).
    A frame in series order gives hours in series order: a device is either hourly or not, so
    each series comes whole from one of the two parts."""
    native = frame.filter(pl.col("step") >= 3600).select(
        *keys, pl.col("time").dt.truncate("1h").alias("hour"), *columns
    )
    finer = frame.filter(pl.col("step") < 3600)
    if finer.is_empty():
        return native
    averaged = (
        finer.with_columns(pl.col("time").dt.truncate("1h").alias("hour"))
        .group_by(*keys, "hour", maintain_order=True)
        .agg([pl.col(c).mean() for c in columns])
    )
    return pl.concat([native, averaged.select(native.columns)], how="vertical_relaxed")


def hours_against_limit(pollutants: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """Hourly means of ``columns`` over the valid readings of series with a limit, taken while
    operating and outside approved marks: what R08 and its peer profile judge."""
    judged = valid(pollutants).filter(pl.col("limit").is_not_null() & pl.col("operating") & ~pl.col("marked"))
    return hourly(judged, columns)


SERIES = ("mn", "factor")


def new_series(keys: tuple[str, ...] = SERIES) -> pl.Expr:
    """Whether a row starts a series: its keys differ from the row before's. On a frame sorted by
    series (each series' rows together, in time order) this stands in for ``over(keys)``, which
    groups the frame and costs tens of times more."""
    changed = pl.any_horizontal([pl.col(k) != pl.col(k).shift(1) for k in keys])
    return changed.fill_null(value=True)


def lag(column: str | pl.Expr, k: int = 1, keys: tuple[str, ...] = SERIES) -> pl.Expr:
    """The value ``k`` rows before in the same series (null where that row is another series'),
    on a frame sorted by series."""
    expr = pl.col(column) if isinstance(column, str) else column
    same = pl.all_horizontal([pl.col(key) == pl.col(key).shift(k) for key in keys])
    return pl.when(same).then(expr.shift(k))


UNKNOWN_OPERATION = "无流量或用电数据，未能确认生产状态"
"""Said where no flow or production power shows whether the plant was running."""


def operation_known() -> pl.Expr:
    """In a run's aggregation: whether flow or production power confirmed that the plant ran
    for most of its readings (rather than its running being assumed for want of either)."""
    return (pl.col("known").mean() >= 0.5).alias("known")


def unless_confirmed(score: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """For a rule that holds only while the plant runs (R01, R02): its score, halved where the
    run's operation was not confirmed, and the note its summary ends with then. A constant or
    zero reading from a plant that may have been stopped is a question, not a finding."""
    known = pl.col("known")
    return (
        pl.when(known).then(score).otherwise(score * 0.5),
        pl.when(known).then(pl.lit("")).otherwise(pl.lit("；" + UNKNOWN_OPERATION)),
    )
