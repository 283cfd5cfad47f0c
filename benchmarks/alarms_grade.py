"""Grading a province: 3,028 units × 4 factors × 365 days of daily values → daily levels.

Target (issue 5): under 5 s on this machine.
Run: python benchmarks/alarms_grade.py [--units 3028] [--days 365] [--apply]
With --apply, the level changes are also turned into alarms, their steps and the messages for a
province officer, in a fresh SQLite database (the path ``offsite alarms grade --from`` takes).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from offsite.alarms.grading import changes, grade
from offsite.alarms.lifecycle import apply_grading
from offsite.db import session_factory
from offsite.db.schema import upgraded_engine
from offsite.registry.models import Contact, Unit
from offsite.registry.regions import load_anhui
from offsite.settings import Settings

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
    parser.add_argument("--apply", action="store_true")
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
    if args.apply:
        apply(graded, args.units)


def apply(graded: pl.DataFrame, units: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.db"
        sessions = session_factory(upgraded_engine(url))
        with sessions() as session:
            load_anhui(session)
            session.add_all(
                Unit(
                    id=n + 1, credit_code=f"9134{n:014d}", name=f"unit {n}", industry_code="C2614", region_code="340104"
                )
                for n in range(units)
            )
            session.add(Contact(name="province", role="province_officer", phone="13900000000", region_code="340000"))
            session.commit()
            started = time.perf_counter()
            applied = apply_grading(session, graded.with_columns(pl.col("unit") + 1), Settings(), datetime.now(UTC))
            session.commit()
            took = time.perf_counter() - started
        steps = applied.opened + applied.raised + applied.lowered + applied.cleared
        print(
            f"applied {steps:,} alarm steps ({applied.opened:,} opened, {applied.raised:,} raised) and queued "
            f"{applied.messages:,} messages in {took:.1f} s (SQLite, one run)"
        )


if __name__ == "__main__":
    main()
