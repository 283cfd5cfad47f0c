"""Store throughput: minute values upserted per second, and a 30-day outlet read into Polars.

For each back end (SQLite file, PostgreSQL on 127.0.0.1:5432 or OFFSITE_TEST_DATABASE_URL):
- writes: 8-factor minute rows for many devices, in transactions of --batch packets, as the
  gateway commits them; then the same rows again (identical resends, which rewrite nothing);
  then every value changed (corrections: every row rewritten);
- read: one outlet's 30 days of minute data (8 factors x 43,200 minutes = 345,600 values).
Targets (issue 3): >= 100,000 values/s into PostgreSQL, >= 50,000 into SQLite; read < 250 ms.

Run: python benchmarks/store_write.py [--devices 100] [--minutes 60] [--batch 500]
(--batch: packets per commit; the gateway's group commit gathers a few hundred under load)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.backends import on_each_backend
from offsite.db import make_engine
from offsite.store.models import MINUTE
from offsite.store.series import read_interval
from offsite.store.values import ValueWriter

FACTORS = ("a21026", "a21002", "a34013", "a19001", "a00000", "a01012", "a01013", "a01014")
START = datetime(2026, 10, 1, tzinfo=UTC)


def packet_rows(device: int, minute: int, shift: float = 0.0) -> list[dict[str, Any]]:
    ts = START + timedelta(minutes=minute)
    return [
        {
            "device_id": device,
            "factor": f,
            "period": MINUTE,
            "ts": ts,
            "min": 10.0 + i,
            "avg": 12.5 + i + minute % 7 + shift,
            "max": 15.0 + i,
            "cou": 0.1 * i,
            "zs_min": None,
            "zs_avg": None,
            "zs_max": None,
            "flag": "N",
            "raw_id": device * 100000 + minute,
        }
        for i, f in enumerate(FACTORS)
    ]


def write(url: str, devices: int, minutes: int, batch: int) -> tuple[float, float, float, int]:
    engine = make_engine(url)
    writer = ValueWriter()
    packets = [(d, m) for m in range(minutes) for d in range(devices)]

    def batches(shift: float) -> list[list[dict[str, Any]]]:
        # Rows are built before the clock starts: building them is the gateway's work, not the store's.
        return [
            [row for d, m in packets[offset : offset + batch] for row in packet_rows(d, m, shift)]
            for offset in range(0, len(packets), batch)
        ]

    # New rows; the same data resent (identical: nothing to rewrite); corrected data (every row changes).
    timings = []
    for round_batches in (batches(0.0), batches(0.0), batches(0.5)):
        started = time.perf_counter()
        for rows in round_batches:
            with engine.begin() as conn:
                writer.interval(conn, rows)
        timings.append(time.perf_counter() - started)
    engine.dispose()
    values = len(packets) * len(FACTORS)
    return values / timings[0], values / timings[1], values / timings[2], values


def read(url: str, runs: int = 5) -> tuple[float, int]:
    engine = make_engine(url)
    writer = ValueWriter()
    device = 999_999
    with engine.begin() as conn:
        for day in range(30):
            writer.interval(conn, [r for m in range(day * 1440, (day + 1) * 1440) for r in packet_rows(device, m)])
    times = []
    height = 0
    for _ in range(runs):
        started = time.perf_counter()
        frame = read_interval(engine, [device], START, START + timedelta(days=30))
        times.append(time.perf_counter() - started)
        height = frame.height
    engine.dispose()
    return statistics.median(times), height


def report(name: str, url: str, args: argparse.Namespace) -> None:
    inserted, resent, corrected, values = write(url, args.devices, args.minutes, args.batch)
    seconds, height = read(url)
    batch = f"{values:,} values, {args.batch} packets per commit"
    print(f"{name:10s} upsert (new rows):  {inserted:10,.0f} values/s   ({batch})")
    print(f"{name:10s} upsert (identical resends):   {resent:10,.0f} values/s")
    print(f"{name:10s} upsert (every value changed): {corrected:10,.0f} values/s")
    print(f"{name:10s} 30-day outlet read: {seconds * 1000:8.0f} ms for {height:,} values (median of 5)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    on_each_backend(lambda name, url: report(name, url, args))


if __name__ == "__main__":
    main()
