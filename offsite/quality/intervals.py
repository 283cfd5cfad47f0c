"""A device's minute-data reporting interval: declared in the registry, else inferred per factor
from the spacing of its records; and the records (or analyser cycles) a period must hold to be valid.

HJ 212 lets a logger send its minute data (2051) every 1 to 60 minutes, so "45 valid minutes"
cannot be the rule for every device: an hour is valid with ``Rules.record_share`` (75 %) of the
records its interval implies, rounded up (45 of 60, 5 of 6). An interval is inferred as the median
spacing between a device's distinct record times, snapped to the nearest of
``Rules.standard_intervals_s``: robust to gaps (a 1-minute device missing a quarter of its records
still has mostly 60 s spacings, so it is judged on 60, not flattered with 90). An inferred interval
never exceeds ``Rules.max_inferred_interval_s`` (600 s): a sparse device cannot make two records an
hour enough; a slower one must declare its interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

from offsite.quality.rules import Rules

DECLARED, INFERRED, DEFAULT, CAPPED = "declared", "inferred", "default", "capped"
Key = tuple[str, str]
"""``mn, factor``: intervals are judged per factor (a logger may send each at its own interval)."""
CYCLE_SPACING_S = 3000
"""Records at least this far apart are an analyser's cycle measurements, not minute data: the
shortest cycle (1 h) less a logger's jitter [D]."""


class BadInterval(ValueError):
    """A declared reporting interval that is not a divisor of 3600 s between 60 and 3600."""


@dataclass(frozen=True, slots=True)
class Interval:
    seconds: int
    source: str
    """``declared`` (registry), ``inferred`` (from the records' spacing), ``capped`` (inferred
    above ``Rules.max_inferred_interval_s``, judged at it) or ``default`` (too few records to
    infer: one minute)."""

    @property
    def per_hour(self) -> int:
        return 3600 // self.seconds


def interval_problem(seconds: float | int | None) -> str | None:
    """Why ``seconds`` cannot be a minute-data interval, or None."""
    if seconds is None:
        return None
    if seconds != int(seconds) or not 60 <= seconds <= 3600 or 3600 % int(seconds):
        return f"{seconds!r} s is not a reporting interval: a divisor of 3600 between 60 and 3600 (60, 300, 600 …)"
    return None


def required(expected: int, share: float) -> int:
    """Records needed of ``expected``: ``share`` of them, rounded up (45 of 60, 5 of 6)."""
    return max(1, math.ceil(expected * share - 1e-9))


def snap(seconds: float, rules: Rules) -> int:
    """The standard interval nearest to a measured spacing (by ratio, so 90 s is not 60's or 120's
    by accident of arithmetic: ties go to the shorter, stricter one)."""
    return min(rules.standard_intervals_s, key=lambda s: (abs(math.log(max(seconds, 1.0) / s)), s))


def infer(minutes: pl.DataFrame, rules: Rules) -> dict[Key, int]:
    """Per ``mn, factor``: the median spacing of its distinct record times, snapped; pairs with
    fewer than two distinct times are left out (no spacing to measure). Each factor is measured on
    its own: a logger may send temperature every minute and SO2 every ten."""
    gaps = pl.col("time").sort().diff().dt.total_seconds()
    spacing = minutes.lazy().group_by("mn", "factor").agg(gaps.filter(gaps > 0).median().alias("gap")).collect()
    return {(mn, factor): snap(gap, rules) for mn, factor, gap in spacing.iter_rows() if gap is not None}


def from_fullest(fullest: dict[Key, int], rules: Rules) -> dict[Key, int]:
    """The interval each pair's fullest computed hour implies (60 valid records: 60 s), snapped."""
    return {key: snap(3600 / n, rules) for key, n in fullest.items() if n > 0}


def intervals(
    minutes: pl.DataFrame,
    declared: dict[str, int | None],
    rules: Rules,
    fullest: dict[Key, int] | None = None,
) -> dict[Key, Interval]:
    """Every ``mn, factor`` of ``minutes``: its device's declared interval where there is one, else
    the shortest of the one its records' spacing gives and the one its fullest recent hour
    (``fullest``: the most valid records a computed hour of it held) implies, capped at
    ``Rules.max_inferred_interval_s``; one minute where neither says anything."""
    problem = interval_problem(rules.max_inferred_interval_s)
    if problem:
        raise BadInterval(f"max_inferred_interval_s: {problem}")
    pairs: list[Key] = minutes.select("mn", "factor").unique().rows()
    for mn in {mn for mn, _ in pairs}:
        given = declared.get(mn)
        problem = interval_problem(given)
        if problem:
            raise BadInterval(f"device {mn}: {problem}")
    undeclared = {mn for mn, _ in pairs if declared.get(mn) is None}
    if not undeclared:
        measured: dict[Key, int] = {}
    elif len(undeclared) == len({mn for mn, _ in pairs}):
        measured = infer(minutes, rules)
    else:
        measured = infer(minutes.filter(pl.col("mn").is_in(list(undeclared))), rules)
    remembered = from_fullest(fullest or {}, rules)
    out: dict[Key, Interval] = {}
    for mn, factor in pairs:
        given = declared.get(mn)
        if given is not None:
            out[(mn, factor)] = Interval(int(given), DECLARED)
            continue
        seen = [s for s in (measured.get((mn, factor)), remembered.get((mn, factor))) if s is not None]
        if not seen:
            out[(mn, factor)] = Interval(60, DEFAULT)
            continue
        seconds = min(seen)
        cycle = factor in rules.cycle_factors and seconds >= CYCLE_SPACING_S  # judged by its cycle
        if seconds > rules.max_inferred_interval_s and not cycle:
            out[(mn, factor)] = Interval(rules.max_inferred_interval_s, CAPPED)
        else:
            out[(mn, factor)] = Interval(seconds, INFERRED)
    return out


def cycle_judged(minutes: pl.DataFrame, rules: Rules) -> pl.DataFrame:
    """The ``mn, factor`` pairs judged by their analyser's cycle: cycle analysers whose records are
    an hour or more apart, or too few to measure (one measurement an hour read). A cycle analyser
    whose logger repeats its reading at the minute-data interval is judged by records like the
    rest: nothing in its records says which of them is the cycle's measurement."""
    empty = pl.DataFrame(schema={"mn": pl.String, "factor": pl.String})
    if not rules.cycle_factors:
        return empty
    of_cycles = minutes.filter(pl.col("factor").is_in(list(rules.cycle_factors)))
    if of_cycles.is_empty():
        return empty
    return (
        of_cycles.lazy()
        .select("mn", "factor", "time")
        .unique()
        .sort("mn", "factor", "time")
        .with_columns(pl.col("time").diff().over("mn", "factor").dt.total_seconds().alias("gap"))
        .group_by("mn", "factor")
        .agg(pl.col("gap").filter(pl.col("gap") > 0).median().alias("gap"))
        .filter(pl.col("gap").is_null() | (pl.col("gap") >= CYCLE_SPACING_S))
        .select("mn", "factor")
        .collect()
    )


def cycle_hours(hours: pl.DataFrame, rules: Rules) -> pl.DataFrame:
    """Per ``mn, factor`` of the cycle analysers (``Rules.cycle_factors``): the measuring cycle in
    hours (``cycle_h``), the median spacing of the hours that hold a record, snapped to
    ``Rules.cycle_hours``; the shortest cycle where a day holds a single such hour."""
    gaps = (
        hours.lazy()
        .filter(pl.col("factor").is_in(list(rules.cycle_factors)))
        .select("mn", "factor", "time")
        .unique()
        .sort("mn", "factor", "time")
        .with_columns((pl.col("time").diff().over("mn", "factor").dt.total_seconds() / 3600).alias("gap"))
        .group_by("mn", "factor")
        .agg(pl.col("gap").filter(pl.col("gap") > 0).median().alias("gap"))
        .collect()
    )
    shortest = min(rules.cycle_hours)
    return pl.DataFrame(
        [
            (mn, factor, shortest if gap is None else min(rules.cycle_hours, key=lambda h: (abs(gap - h), h)))
            for mn, factor, gap in gaps.iter_rows()
        ],
        schema={"mn": pl.String, "factor": pl.String, "cycle_h": pl.Int64},
        orient="row",
    )
