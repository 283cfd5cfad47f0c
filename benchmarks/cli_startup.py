"""How long `offsite` takes before doing anything: wall time of ``--help`` and of a few light
commands, median of several runs in fresh interpreters, and what ``python -X importtime`` says
each imports (the heavy stack: polars, SQLAlchemy, NumPy, SciPy, Alembic).

Run: python benchmarks/cli_startup.py [--runs N]
Target (issue 14 point 12): ``offsite --help`` and light commands under 0.5 s (they took 3–4 s
when every sub-command's module was imported at start-up).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time

CASES = (
    ["--help"],
    ["hj212", "--help"],
    ["demo", "--help"],
    ["regions", "--help"],
    ["alarms", "--help"],
)
HEAVY = ("polars", "sqlalchemy", "numpy", "scipy", "alembic")


def wall(args: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "offsite", *args], capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def imports(args: list[str]) -> tuple[float, list[str]]:
    """Seconds spent importing (the top-level modules' cumulative times) and the heavy ones among them."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "offsite", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COLUMNS": "100"},
    )
    total, heavy = 0, set()
    for line in done.stderr.splitlines():
        found = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if not found:
            continue
        cumulative, indent, name = int(found.group(1)), found.group(2), found.group(3)
        if indent == " ":
            total += cumulative
        if name.split(".")[0] in HEAVY:
            heavy.add(name.split(".")[0])
    return total / 1e6, sorted(heavy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    bare = time.perf_counter() - start
    print(f"python itself: {bare:.3f} s")
    print(f"{'command':<24} {'wall (median)':>14} {'importing':>10}  heavy modules imported")
    for args in CASES:
        seconds = wall(args, runs)
        importing, heavy = imports(args)
        shown = "offsite " + " ".join(args)
        print(f"{shown:<24} {seconds:>12.3f} s {importing:>8.3f} s  {', '.join(heavy) or '-'}")


if __name__ == "__main__":
    main()
