"""R14 数据复制/回放: a window of readings identical to an earlier window of the same or another
device — a copied day or hour that constant-value checks miss.

Windows are found by hashing, which scales to a province (no pairwise comparison): each window of
W readings gets three integer sums of its readings in hundredths — the sum, the sum of squares and
the position-weighted sum, which does not depend on where the window starts — and windows whose
sums agree are copies of each other. Windows whose readings hardly vary, or hold zeros, are R01's
and R02's, not this rule's.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from offsite.screening.detectors.common import new_series, points, valid
from offsite.screening.hits import HITS, clock, finish, name
from offsite.screening.prepared import Prepared

KEYS = ("mn", "factor")


def detect(p: Prepared, params: dict[str, Any]) -> pl.DataFrame:
    frame = valid(p.pollutants).select("mn", "factor", "time", "value", "step")
    if frame.is_empty():
        return pl.DataFrame(schema=HITS)
    # a device with a single reading has no step, so no window: too short to hold a copy
    widths = frame.with_columns(points(params["minutes"], params["hours"]).alias("w")).filter(pl.col("w").is_not_null())
    if widths.is_empty():
        return pl.DataFrame(schema=HITS)
    windows = pl.concat([_windows(part, int(width)) for (width,), part in widths.group_by("w", maintain_order=True)])
    # nearly every window is unique: only the few that are not need comparing
    windows = windows.filter(pl.col("key").is_duplicated())
    windows = windows.filter(pl.struct("factor", "key").is_duplicated())
    # the first window of each set of equal ones is the original; the others (not overlapping it)
    # are copies
    first = windows.group_by("factor", "key").agg(
        pl.col("start").min().alias("original"), pl.col("mn").sort_by("start").first().alias("source")
    )
    copies = windows.join(first, on=["factor", "key"]).filter(
        (pl.col("start") >= pl.col("original") + pl.col("span")) | (pl.col("mn") != pl.col("source"))
    )
    copies = _verified(copies, frame)
    if copies.is_empty():
        return pl.DataFrame(schema=HITS)
    # consecutive copied windows make one copied stretch
    ordered = copies.sort("mn", "factor", "start")
    gap = (pl.col("start") - pl.col("start").shift(1)).over(KEYS).dt.total_seconds() > pl.col("step")
    found = (
        ordered.with_columns(gap.fill_null(value=True).cast(pl.Int32).cum_sum().over(KEYS).alias("stretch"))
        .group_by("mn", "factor", "stretch")
        .agg(
            pl.col("start").min(),
            (pl.col("start").max() + pl.col("span").first()).alias("end"),
            pl.col("original").min(),
            pl.col("source").first(),
            pl.col("step").first(),
        )
        .with_columns(((pl.col("end") - pl.col("start")).dt.total_seconds() / pl.col("step")).cast(pl.Int64).alias("n"))
    )
    return finish(
        found.with_columns(
            (0.7 + 0.25 * (pl.col("n") / 240).clip(0, 1)).alias("score"),
            pl.format(
                "{} 在 {}–{} 的 {} 个读数与 {} 自 {} 起的读数完全相同，疑似数据复制或回放",
                name(pl.col("factor")),
                clock(pl.col("start")),
                clock(pl.col("end")),
                pl.col("n"),
                pl.when(pl.col("source") == pl.col("mn")).then(pl.lit("本设备")).otherwise(pl.col("source")),
                clock(pl.col("original")),
            ).alias("summary"),
        ),
        "R14",
    )


def _verified(copies: pl.DataFrame, frame: pl.DataFrame) -> pl.DataFrame:
    """The candidate copies whose readings really equal their original's, reading by reading: the
    sums are a fingerprint, and different windows can share one (a few in a million)."""
    if copies.is_empty():
        return copies
    width = (pl.col("span").dt.total_seconds() / pl.col("step")).cast(pl.Int64)
    positions = (
        copies.with_row_index("candidate")
        .with_columns(pl.int_ranges(0, width).alias("k"))
        .explode("k")
        .with_columns(
            (pl.col("start") + pl.duration(seconds=pl.col("k") * pl.col("step"))).alias("time"),
            (pl.col("original") + pl.duration(seconds=pl.col("k") * pl.col("step"))).alias("source_time"),
        )
    )
    readings = frame.select("mn", "factor", "time", "value")
    compared = positions.join(readings, on=["mn", "factor", "time"], how="left").join(
        readings.rename({"mn": "source", "time": "source_time", "value": "source_value"}),
        on=["source", "factor", "source_time"],
        how="left",
    )
    equal = compared.group_by("candidate").agg((pl.col("value") == pl.col("source_value")).all().alias("equal"))
    return (
        copies.with_row_index("candidate")
        .join(equal.filter(pl.col("equal")), on="candidate", how="semi")
        .drop("candidate")
    )


def _windows(frame: pl.DataFrame, width: int) -> pl.DataFrame:
    """Every window of ``width`` consecutive readings without a gap, with its key. Window sums
    are differences of running sums; the frame is in series order, so one running sum serves
    every series, and a window counts where its first reading is of the same series as its last.
    (The sums stay far inside 64 bits: a reading in hundredths times its place in its series.)"""
    index = pl.int_range(pl.len())
    new = new_series()
    cents = (pl.col("value") * 100).round(0).cast(pl.Int64)
    staged = (
        frame.with_columns(new.alias("_new"), cents.alias("c"))
        .with_columns(
            pl.col("_new").cast(pl.Int64).cum_sum().alias("g"),
            (index - pl.when(pl.col("_new")).then(index).forward_fill()).alias("i"),
        )
        .with_columns(
            (pl.col("c") * pl.col("c")).alias("c2"),
            (pl.col("c") * pl.col("i")).alias("ci"),
            (pl.col("c") <= 0).cast(pl.Int64).alias("z"),
        )
    )

    def window(column: str) -> pl.Expr:
        running = pl.col(column).cum_sum()
        return running - running.shift(width).fill_null(0)

    ended = staged.with_columns(
        window("c").alias("s1"),
        window("c2").alias("s2"),
        window("ci").alias("si"),
        window("z").alias("zeros"),
        pl.col("time").shift(width - 1).alias("start"),
        (pl.col("g").shift(width - 1) == pl.col("g")).alias("whole"),
    )
    # a window that hardly varies (standard deviation under 1 % of its mean) or holds a zero is
    # R01's or R02's: two stops look alike
    spread = width * pl.col("s2") - pl.col("s1") * pl.col("s1")
    varied = spread.cast(pl.Float64) >= (0.01 * pl.col("s1").cast(pl.Float64)) ** 2
    return ended.filter(
        pl.col("whole").fill_null(value=False)
        & (pl.col("zeros") == 0)
        & varied
        & (pl.col("time") - pl.col("start") == pl.duration(seconds=pl.col("step") * (width - 1)))
    ).select(
        "mn",
        "factor",
        "start",
        "step",
        pl.duration(seconds=pl.col("step") * width).alias("span"),
        # the position-weighted sum taken from the window's first reading
        pl.struct("s1", "s2", (pl.col("si") - (pl.col("i") - width + 1) * pl.col("s1")).alias("sw"))
        .hash()
        .alias("key"),
    )
