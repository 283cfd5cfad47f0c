"""Aggregation on the database: noted hours → computed hourly and daily values, in values/s.

A province-sized hour: --devices flue-gas devices (8 factors each, one outlet each, O2 reference
6 %) with --hours hours of stored minutes already aggregated; then one more hour arrives and
``aggregate_pending`` takes it: it reads the hour's minutes, computes its hours, recomputes each
device's day from its stored hours, and writes both. Printed: the first pass (every hour at once)
and the incremental hour, as minute values read per second, on SQLite and PostgreSQL.

Run: python benchmarks/aggregate_pending.py [--devices 1000] [--hours 12]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.backends import on_each_backend
from offsite.db import make_engine, session_factory
from offsite.quality.incremental import aggregate_pending
from offsite.registry.models import Device, Outlet, Unit
from offsite.registry.regions import load_anhui
from offsite.store.models import MINUTE
from offsite.store.series import close_connections
from offsite.store.values import ValueWriter

FACTORS = ("a21026", "a21002", "a34013", "a19001", "a00000", "a01012", "a01013", "a01014")
START = datetime(2026, 11, 19, 16, tzinfo=UTC)  # midnight, China time


def registry(url: str, devices: int) -> None:
    with session_factory(make_engine(url))() as session:
        load_anhui(session)
        for n in range(1, devices + 1):
            session.add(
                Unit(id=n, credit_code=f"U{n:017d}", name=f"单位{n}", industry_code="D4411", region_code="340104")
            )
        session.flush()
        session.add_all(
            Outlet(id=n, unit_id=n, code="DA001", name="烟囱", medium="gas", o2_ref=6.0) for n in range(1, devices + 1)
        )
        session.flush()
        session.add_all(Device(id=n, outlet_id=n, mn=f"MN{n:012d}", password_enc=b"-") for n in range(1, devices + 1))
        session.commit()


def minutes(url: str, devices: int, first_hour: int, hours: int) -> int:
    engine = make_engine(url)
    writer = ValueWriter()
    written = 0
    for hour in range(first_hour, first_hour + hours):
        for offset in range(0, devices, 250):
            rows: list[dict[str, Any]] = [
                {
                    "device_id": d,
                    "period": MINUTE,
                    "factor": f,
                    "ts": START + timedelta(hours=hour, minutes=m),
                    "avg": 20.0 + i + (m % 7) + (d % 5),
                    "flag": "N" if m % 30 else "C",
                }
                for d in range(offset + 1, min(offset + 250, devices) + 1)
                for m in range(60)
                for i, f in enumerate(FACTORS)
            ]
            with engine.begin() as conn:
                writer.interval(conn, rows)
            written += len(rows)
    engine.dispose()
    return written


def report(name: str, url: str, args: argparse.Namespace) -> None:
    registry(url, args.devices)
    values = minutes(url, args.devices, 0, args.hours)
    engine = make_engine(url)
    started = time.perf_counter()
    first = aggregate_pending(engine, now=START + timedelta(hours=args.hours))
    seconds = time.perf_counter() - started
    print(
        f"{name:10s} first pass: {values:,} minute values → {first.hours:,} hourly + {first.days:,} daily "
        f"in {seconds:.2f} s ({values / seconds:,.0f} minute values/s)"
    )
    one = minutes(url, args.devices, args.hours, 1)
    started = time.perf_counter()
    hour = aggregate_pending(engine, now=START + timedelta(hours=args.hours + 1))
    seconds = time.perf_counter() - started
    print(
        f"{name:10s} one more hour: {one:,} minute values → {hour.hours:,} hourly, {hour.days:,} daily "
        f"recomputed over {args.hours + 1} stored hours in {seconds:.2f} s ({one / seconds:,.0f} minute values/s)"
    )
    close_connections()
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--hours", type=int, default=12)
    args = parser.parse_args()
    on_each_backend(lambda name, url: report(name, url, args))


if __name__ == "__main__":
    main()
