"""The gateway's spool under a long database outage: read time and the cost of each batch.

A 40,000-record spool (realistic 8-factor minute packets, appended and fsynced in batches as the
gateway's group commit spools them) is measured for:
- open: a fresh ``Spool(directory)`` (the new spool scans and checks every record once here);
- read all: ``list(spool.read())``, every pending record decoded (what a replay reads in total);
- read first batch: ``spool.read()[:batch]``, what each failed replay attempt reads during an
  outage (the gateway tries the spool before each new batch);
- outage step: one gateway batch during the outage at that depth: the replay attempt above,
  ``append`` of the batch (write + fsync) and ``len(spool)`` — before the fix every step
  parsed the whole file twice, so the outage cost grew with the square of its length.

Run: python benchmarks/spool.py [--records 40000] [--batch 200] [--steps 20] [--dir DIR]
Measured on the 2-core machine (shared, so +-30 %), 40,000 records of ~850 bytes, batch 200:
                        before the fix (re-parse per call)   after (offsets in memory)
  open (scan)           -  (no scan)                          97-148 ms, once
  read all              0.42-0.43 s                           0.37-0.44 s (JSON decoding)
  read first batch      0.34-0.44 s (parses everything)       1.3-2.3 ms
  len                   0.33-0.48 s                           0.001 ms
  outage step           0.70-1.13 s at 41-44,000 records      4.8-5.6 ms (of which fsync ~3 ms)
Before, the outage step grew with the spool: an outage of n batches cost O(n^2).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from offsite.gateway.spool import Spool, Spooled
from offsite.store.archive import Incoming

START = datetime(2026, 11, 1, tzinfo=UTC)
FACTORS = ("a21026", "a21002", "a34013", "a19001", "a00000", "a01012", "a01013", "a01014")


def record(index: int) -> Spooled:
    moment = START + timedelta(minutes=index)
    qn = moment.strftime("%Y%m%d%H%M%S") + "000"
    mn = f"MN{index % 200:022d}"
    cp = ";".join(
        f"{f}-Min={10.0 + i:.2f},{f}-Avg={12.5 + i:.2f},{f}-Max={15.0 + i:.2f},{f}-Flag=N"
        for i, f in enumerate(FACTORS)
    )
    body = f"QN={qn};ST=31;CN=2051;PW=123456;MN={mn};Flag=5;CP=&&DataTime={qn[:14]};{cp}&&"
    data = f"##{len(body):04d}{body}ABCD\r\n".encode()
    incoming = Incoming(data=data, peer="10.1.2.3:40000", received_at=moment, mn=mn, cn="2051", qn=qn)
    return Spooled(incoming, index % 200)


def seconds(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=40_000)
    parser.add_argument("--batch", type=int, default=200, help="packets per spooled batch")
    parser.add_argument("--steps", type=int, default=20, help="outage steps measured at full depth")
    parser.add_argument("--dir", type=Path, default=None, help="where to build the spool (default: a temp dir)")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="offsite-spool-", dir=args.dir))
    try:
        directory = base / "spool"
        spool = Spool(directory)
        started = time.perf_counter()
        for start in range(0, args.records, args.batch):
            spool.append([record(i) for i in range(start, min(start + args.batch, args.records))])
        fill = time.perf_counter() - started
        size = spool.path.stat().st_size
        print(f"spool: {args.records:,} records, {size / 1e6:.1f} MB, filled in {fill:.1f} s ({args.batch} per batch)")

        reopen = seconds(lambda: Spool(directory), 3)
        spool = Spool(directory)
        read_all = seconds(lambda: list(spool.read()), 3)
        assert len(list(spool.read())) == args.records
        first = seconds(lambda: spool.read()[: args.batch], 5)
        length = seconds(lambda: len(spool), 5)
        print(f"open (scan):       {reopen * 1e3:9.1f} ms")
        print(f"read all:          {read_all * 1e3:9.1f} ms")
        print(f"read first batch:  {first * 1e3:9.1f} ms")
        print(f"len:               {length * 1e3:9.3f} ms")

        batch = [record(args.records + i) for i in range(args.batch)]
        steps, appends = [], []
        for _ in range(args.steps):
            started = time.perf_counter()
            attempt = spool.read()[: args.batch]  # the replay attempt that fails while the database is away
            assert len(attempt) == args.batch
            before_append = time.perf_counter()
            spool.append(batch)
            appends.append(time.perf_counter() - before_append)
            len(spool)
            steps.append(time.perf_counter() - started)
        depth = len(spool)
        print(
            f"outage step at {depth:,} records (read attempt + append {args.batch} + len): "
            f"{statistics.median(steps) * 1e3:.1f} ms median, of which append+fsync "
            f"{statistics.median(appends) * 1e3:.1f} ms"
        )
        per_packet = statistics.median(steps) / args.batch
        print(f"  = {per_packet * 1e6:.0f} µs of spool work per acknowledged packet at that depth")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
