"""Screening speed: the full catalogue against a pandas baseline of three rules, and a
province-month of hourly data from Parquet.

1. Side by side on the same generated minute data (the evaluation's scenario mix): the whole
   catalogue (offsite.screening) and a straightforward pandas implementation of R01 (constant
   runs), R02 (runs at or below the detection limit) and R05 (sudden drop), written as a user
   would (groupby + diff/cumsum run lengths, groupby + rolling max). Prints values/s and the
   ratio. Target (issue 6): the full catalogue ≥ 20× the three-rule baseline. (The baseline
   flags readings, not runs: it does less than the rules it stands for.)
2. --province: 13,000 devices × 8 factors × 720 hours (≈ 75 million values) of hourly data written
   as Parquet files of --batch devices, then screened file by file in a pool of --workers
   processes (offsite.screening.pool). Prints the time and the peak memory (ru_maxrss of this
   process and of the largest worker). Target: < 60 s within 8 GB.

Run: python benchmarks/screening_speed.py [--devices 170] [--province] [--batch 1000] [--workers 2]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.screening_eval import build
from offsite.screening.engine import screen
from offsite.screening.inputs import DATA, LIMITS, Inputs
from offsite.screening.parameters import load
from offsite.screening.pool import screen_batches
from offsite.sim.frames import long_frame, video_frame

FACTORS = ("a21026", "a21002", "a34013", "a19001", "a00000", "a01012", "a01014", "a01013")
BASE = (35.0, 60.0, 5.0, 9.5, 45.0, 55.0, 8.0, -0.3)


def pandas_baseline(frame: pd.DataFrame, limits: pd.DataFrame) -> int:
    """R01, R02 and R05 as a user would write them (groupby + rolling); returns the readings flagged."""
    frame = frame.sort_values(["mn", "factor", "time"]).merge(limits, on=["mn", "factor"], how="left")
    rolling = frame.groupby(["mn", "factor"])["value"]
    # R01: 60 readings in a row with no change
    top = rolling.transform(lambda s: s.rolling(60).max())
    bottom = rolling.transform(lambda s: s.rolling(60).min())
    constant = (top - bottom) <= 0.0
    # R02: 30 readings in a row at or below the detection limit (3 mg/m³)
    zero = rolling.transform(lambda s: s.rolling(30).max()) <= 3.0
    # R05: the highest of the previous 15 readings ≥ 0.8 × the limit, and this one ≤ half of it
    peak = rolling.transform(lambda s: s.shift(1).rolling(15, min_periods=1).max())
    drop = (peak >= 0.8 * frame["limit"]) & (frame["value"] <= 0.5 * peak)
    return int(constant.sum() + zero.sum() + drop.sum())


def side_by_side(args: argparse.Namespace) -> None:
    planted, marks = build(max(args.devices // 17, 1), max(args.devices // 17, 1), np.random.default_rng(1))
    data = long_frame(planted, {"P": "production", "T": "treatment"})
    limits = pl.DataFrame({"mn": [s.mn for s in planted], "factor": "a21026", "limit": 100.0, "basis": "measured"})
    inputs = Inputs(data, limits=limits, video=video_frame(planted), marks=marks)
    catalogue = load()
    started = time.perf_counter()
    result = screen(inputs, catalogue)
    ours = time.perf_counter() - started
    frame = data.filter(~pl.col("factor").str.starts_with("power:")).to_pandas()
    started = time.perf_counter()
    hits = pandas_baseline(frame, limits.select("mn", "factor", "limit").to_pandas())
    theirs = time.perf_counter() - started
    values = data.height
    print(f"{values:,} minute values of {len(planted)} devices")
    found = result.hits.height
    print(f"full catalogue (R01–R18 + joining):  {ours:6.2f} s  {values / ours:12,.0f} values/s  {found} hits")
    print(f"pandas, R01+R02+R05 only:            {theirs:6.2f} s  {values / theirs:12,.0f} values/s  {hits} readings")
    print(f"ratio: {theirs / ours:.1f}x (target >= 20x)")


def province(args: argparse.Namespace) -> None:
    devices, hours = args.province_devices, 720
    start = datetime(2026, 10, 31, 16, tzinfo=UTC)
    times = pl.datetime_range(start, start + timedelta(hours=hours - 1), "1h", eager=True, time_zone="UTC")
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        started = time.perf_counter()
        for first in range(0, devices, args.batch):
            count = min(args.batch, devices - first)
            parts = []
            for factor, base in zip(FACTORS, BASE, strict=True):
                noise = rng.normal(1.0, 0.05, (count, hours))
                parts.append(
                    pl.DataFrame(
                        {
                            "mn": np.repeat([f"MN{first + i:08d}" for i in range(count)], hours),
                            "factor": factor,
                            "time": pl.Series(np.tile(times.to_numpy(), count)).dt.replace_time_zone("UTC"),
                            "value": np.round((base * noise).ravel(), 2),
                            "flag": "N",
                        }
                    )
                )
            path = Path(tmp) / f"part-{first:06d}.parquet"
            pl.concat(parts).cast(DATA).write_parquet(path)
            files.append(path)
        written = time.perf_counter() - started
        print(
            f"province: {devices:,} devices × 8 factors × {hours} hours = {devices * 8 * hours:,} values, "
            f"written as {len(files)} Parquet files in {written:.1f} s"
        )
        started = time.perf_counter()
        clues = screen_batches(files, load_batch, load(), workers=args.workers)
        seconds = time.perf_counter() - started
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
        largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 / 1024
        print(
            f"screened in {seconds:.1f} s with {args.workers} worker processes "
            f"({devices * 8 * hours / seconds:,.0f} values/s), {clues.height} clues; peak memory "
            f"{own:.2f} GB here, {largest:.2f} GB in the largest worker (targets: < 60 s, < 8 GB)"
        )


def load_batch(path: Path) -> Inputs:
    """One Parquet file of devices, with an SO2 limit of 100 for each."""
    data = pl.read_parquet(path)
    limits = pl.DataFrame(
        {"mn": data["mn"].unique(), "factor": "a21026", "limit": 100.0, "basis": "measured", "o2_ref": None}
    )
    return Inputs(data, limits=limits.cast(LIMITS))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=170)
    parser.add_argument("--province", action="store_true")
    parser.add_argument("--province-devices", type=int, default=13_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    side_by_side(args)
    if args.province:
        province(args)


if __name__ == "__main__":
    main()
