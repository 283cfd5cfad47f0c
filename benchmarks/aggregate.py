"""Minute → hour → day throughput of offsite.quality.aggregate, in minute values per second.

Long-format minute data (mn, factor, time, value, flag) for --devices flue-gas devices × 8 factors
× --days days, 2 % of minutes flagged invalid; the clock covers ``aggregate`` only.
Target (issue 5): >= 2 million minute values/s on this machine.

Run: python benchmarks/aggregate.py [--devices 100] [--days 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from offsite.quality.aggregate import Outlet, aggregate

FACTORS = ("a21026", "a21002", "a34013", "a19001", "a00000", "a01012", "a01013", "a01014")


def minutes(devices: int, days: int) -> pl.DataFrame:
    rng = np.random.default_rng(5)
    n = days * 1440
    start = datetime(2026, 11, 1, tzinfo=UTC)
    micros = int(start.timestamp() * 1_000_000) + np.arange(n, dtype=np.int64) * 60_000_000
    stamps = pl.Series("time", micros).cast(pl.Datetime("us", "UTC"))
    frames = []
    for d in range(devices):
        for f in FACTORS:
            frames.append(
                pl.DataFrame(
                    {
                        "mn": f"D{d:05d}",
                        "factor": f,
                        "time": stamps,
                        "value": rng.normal(30.0, 5.0, n) if f != "a19001" else rng.normal(9.0, 0.5, n),
                        "flag": np.where(rng.random(n) < 0.02, "C", "N"),
                    }
                )
            )
    return pl.concat(frames)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    data = minutes(args.devices, args.days)
    outlets = {f"D{d:05d}": Outlet("gas", o2_ref=6.0) for d in range(args.devices)}
    best = float("inf")
    for _ in range(args.runs):
        started = time.perf_counter()
        result = aggregate(data, outlets)
        best = min(best, time.perf_counter() - started)
    print(f"{data.height:,} minute values -> {result.height:,} hour and day rows in {best:.2f} s (best of {args.runs})")
    rate = data.height / best
    print(f"throughput: {rate:,.0f} minute values/s; target >= 2,000,000: {'meets' if rate >= 2e6 else 'MISSES'}")


if __name__ == "__main__":
    main()
