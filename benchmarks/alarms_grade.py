"""Grading a province: 3,028 units × 4 factors × 365 days of daily values → daily levels.

Target (issue 5): under 5 s on this machine.
Run: python benchmarks/alarms_grade.py [--units 3028] [--days 365]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from offsite.alarms.grading import changes, grade

FACTORS = ("a21026", "a21002", "a34013", "w01018")


def province(units: int, days: int) -> pl.DataFrame:
    rng = np.random.default_rng(2023)
    n = units * len(FACTORS) * days
    first = date(2026, 1, 1)
    unit = np.repeat(np.arange(units), len(FACTORS) * days)
    factor = np.tile(np.repeat(np.arange(len(FACTORS)), days), units)
    day = np.tile(np.arange(days), units * len(FACTORS))
    limit = np.array([100.0, 200.0, 30.0, 50.0])[factor]
    value = limit * rng.lognormal(-0.9, 0.35, n)  # about 0.5 % of factor-days above the limit
    return pl.DataFrame(
        {
            "unit": unit,
            "outlet": pl.Series(factor).cast(pl.String),
            "factor": pl.Series(np.array(FACTORS)[factor]),
            "day": pl.Series((day + first.toordinal() - date(1970, 1, 1).toordinal()).astype(np.int32)).cast(pl.Date),
            "value": value,
            "limit": limit,
            "valid": rng.random(n) > 0.03,
            "marked": rng.random(n) < 0.01,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, default=3028)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    daily = province(args.units, args.days)
    first = date(2026, 1, 1)
    last = first + timedelta(days=args.days - 1)
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        graded = grade(daily, first, last)
        events = changes(graded)
        best = min(best, time.perf_counter() - started)
    levels = graded.filter(pl.col("day") == last)["level"].value_counts().sort("level")
    print(f"{daily.height:,} daily values ({args.units:,} units × {len(FACTORS)} factors × {args.days} days)")
    print(f"graded {graded.height:,} unit-days and found {events.height:,} level changes in {best:.2f} s (best of 3)")
    print(f"levels on the last day: {dict(levels.iter_rows())}")
    print(f"target < 5 s: {'meets' if best < 5 else 'MISSES'}")


if __name__ == "__main__":
    main()
