"""The database mode of the screening in one process and in a pool: the stored minutes of
--devices simulated flue-gas devices (the simulator's clean signals) × --hours hours, profiled
(``refresh_profiles``) and screened (``screen_window``) with --workers 1 and then with the pool,
the clues deleted between the runs. Each run is a process of its own; prints the passes' times,
the peak memory (of that process, or of the pool's largest worker) and the clues found (the same
in both runs, or it says so).

The registry and the minutes are written first, through the store's own writer, to an empty
SQLite file in a temporary folder, or to the (empty, migrated) database given.

Run: python benchmarks/screening_database.py [--devices 600] [--hours 24] [--workers 2] [--database-url URL]
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from resource import RUSAGE_CHILDREN, RUSAGE_SELF, getrusage

import polars as pl
from sqlalchemy import Engine, delete, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from offsite.db import make_engine, session_factory
from offsite.db.schema import upgraded_engine
from offsite.registry.models import Device, Limit, Outlet, Unit
from offsite.registry.regions import load_anhui
from offsite.screening.database import refresh_profiles, screen_window
from offsite.screening.models import Clue
from offsite.screening.parameters import load
from offsite.sim.frames import long_frame
from offsite.sim.scenarios import Series
from offsite.sim.signals import GAS, series
from offsite.store.models import MINUTE
from offsite.store.values import ValueWriter

INDUSTRIES = ("C3011", "D4411", "C2614")
START = datetime(2026, 11, 1, 16, tzinfo=UTC)  # 2026-11-02 00:00 China time
CHUNK = 100_000


def registry(engine: Engine, devices: int) -> None:
    numbers = range(1, devices + 1)
    with session_factory(engine)() as session:
        load_anhui(session)
        industry = {n: INDUSTRIES[n % len(INDUSTRIES)] for n in numbers}
        session.add_all(
            Unit(id=n, credit_code=f"91340{n:013d}", name=f"单位{n}", industry_code=industry[n], region_code="341302")
            for n in numbers
        )
        session.flush()
        session.add_all(Outlet(id=n, unit_id=n, code="DA001", name="烟囱", medium="gas", o2_ref=6.0) for n in numbers)
        session.flush()
        session.add_all(Device(id=n, outlet_id=n, mn=f"D{n - 1:05d}", password_enc=b"-") for n in numbers)
        session.add_all(
            Limit(
                outlet_id=n,
                factor="a21026",
                standard="GB13223-2011",
                value=100.0,
                basis="corrected",
                valid_from=date(2026, 1, 1),
                source="benchmark",
            )
            for n in numbers
        )
        session.commit()


def store(engine: Engine, devices: int, hours: int) -> int:
    planted = [Series(f"D{n:05d}", START, series(GAS, START, hours * 60, seed=n)) for n in range(devices)]
    rows = long_frame(planted).select(
        (pl.col("mn").str.slice(1).cast(pl.Int64) + 1).alias("device_id"),
        pl.lit(MINUTE).alias("period"),
        "factor",
        pl.col("time").alias("ts"),
        pl.col("value").round(2).alias("avg"),
        "flag",
    )
    writer = ValueWriter()
    for offset in range(0, rows.height, CHUNK):
        with engine.begin() as conn:
            writer.interval(conn, rows.slice(offset, CHUNK).to_dicts())
    return rows.height


def clues(engine: Engine) -> list[tuple[str, str, datetime]]:
    with session_factory(engine)() as session:
        found = session.execute(select(Clue.rules, Clue.mn, Clue.start_at).order_by(Clue.mn, Clue.start_at)).all()
        session.execute(delete(Clue))
        session.commit()
    return [tuple(row) for row in found]


@dataclass(frozen=True, slots=True)
class Passes:
    profiled: float
    screened: float
    profiles: int
    clues: list[tuple[str, str, datetime]]
    peak: float
    """GB: the most the process of the passes held."""
    workers_peak: float
    """GB: the most the largest of its workers held (none when it had no pool)."""


def passes(url: str, hours: int, workers: int) -> Passes:
    """Both passes, in a process of their own (so that its peak memory is theirs alone)."""
    engine = make_engine(url)
    end, now = START + timedelta(hours=hours), datetime.now(UTC)
    started = time.perf_counter()
    profiles = refresh_profiles(engine, START, end, catalogue=load(), now=now, workers=workers)
    profiled = time.perf_counter() - started
    started = time.perf_counter()
    screen_window(engine, START, end, catalogue=load(), now=now, workers=workers)
    screened = time.perf_counter() - started
    own, largest = (getrusage(who).ru_maxrss / 1024 / 1024 for who in (RUSAGE_SELF, RUSAGE_CHILDREN))
    return Passes(profiled, screened, profiles.height, clues(engine), own, largest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=600)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database-url", default=None, help="an empty database (default: SQLite in a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="offsite-screen-bench-") as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'offsite.db'}"
        engine = upgraded_engine(url)
        started = time.perf_counter()
        registry(engine, args.devices)
        values = store(engine, args.devices, args.hours)
        print(
            f"{args.devices} devices × {args.hours} h = {values:,} minute values stored "
            f"in {time.perf_counter() - started:.1f} s ({engine.url.get_backend_name()})"
        )
        found = {}
        for workers in (1, args.workers):
            with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
                done = pool.submit(
                    passes, engine.url.render_as_string(hide_password=False), args.hours, workers
                ).result()
            found[workers] = done.clues
            print(
                f"workers {workers}: profiles {done.profiled:5.1f} s ({done.profiles} rows), screening "
                f"{done.screened:5.1f} s ({values / done.screened:,.0f} values/s, {len(done.clues)} clues); "
                f"peak memory {done.peak:.2f} GB, {done.workers_peak:.2f} GB in the largest worker"
            )
        same = found[1] == found[args.workers]
        print("the same clues in one process and in the pool" if same else "THE CLUES DIFFER between the runs")


if __name__ == "__main__":
    main()
