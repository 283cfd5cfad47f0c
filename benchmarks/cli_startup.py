"""How long `offsite` takes before doing anything: wall time of ``--help``, of every group's
``--help``, of one command's ``--help`` in each group and of a few light commands, median of
several runs in fresh interpreters, and what ``python -X importtime`` says each imports (the heavy
stack: polars, SQLAlchemy, NumPy, SciPy, Alembic, pandas, openpyxl, APScheduler).

Run: python benchmarks/cli_startup.py [--runs N] [--only WORD]
Target (issue 14 point 12): ``offsite --help``, ``offsite GROUP [COMMAND] --help`` and light
commands under 0.5 s (they took 3–4 s when every sub-command's module was imported at start-up,
and a group's --help 0.6–1.9 s while its module imported the stack at its top).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime

from offsite.cli import COMMANDS
from offsite.hj212 import encode
from offsite.hj212.times import CST
from offsite.hj212.uploads import upload

# one command's --help a group: the one whose options pull the most (formats, enums, paths)
COMMAND_HELP = (
    ["alarms", "list", "--help"],
    ["clues", "show", "--help"],
    ["db", "grant", "--help"],
    ["devices", "status", "--help"],
    ["hj212", "decode", "--help"],
    ["keys", "rotate", "--help"],
    ["marks", "file", "--help"],
    ["notify", "list", "--help"],
    ["registry", "import", "--help"],
)


def packets(count: int = 60) -> str:
    """An hour of 8-factor minute uploads, as a logger sends them, for ``hj212 decode``."""
    factors: dict[str, dict[str, float | str]] = {
        code: {"Avg": 12.25 + i, "Flag": "N"} for i, code in enumerate(("a21026", "a21002", "a34013", "a19001"))
    }
    frames = (
        encode(
            upload(
                cn="2051",
                mn="BENCH0000001",
                pw="123456",
                st="31",
                qn=f"20261207{minute:04d}00000",
                data_time=datetime(2026, 12, 7, 8, minute, tzinfo=CST),
                factors=factors,
            )
        )
        for minute in range(count)
    )
    return b"".join(frames).decode("ascii")


LIGHT = (
    (["hj212", "decode"], packets()),
    (["keys", "show"], ""),
    (["archive", "public-key"], ""),
)
HEAVY = ("polars", "sqlalchemy", "numpy", "scipy", "alembic", "pandas", "openpyxl", "apscheduler")


def cases() -> list[tuple[list[str], str]]:
    helps = [["--help"], *([name, "--help"] for name in COMMANDS), *COMMAND_HELP]
    return [*((args, "") for args in helps), *LIGHT]


def wall(args: list[str], stdin: str, runs: int, env: dict[str, str]) -> tuple[float, float, float]:
    """Median and best wall time of ``runs``, and the median CPU time (user + system) the command
    took: on a machine others share, waiting for a core inflates the wall time, not the CPU time."""
    times, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "offsite", *args], input=stdin, text=True, capture_output=True, check=False, env=env
        )
        times.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(times), min(times), statistics.median(cpu)


def imports(args: list[str], stdin: str, env: dict[str, str]) -> tuple[float, list[str]]:
    """Seconds spent importing (the top-level modules' cumulative times) and the heavy ones among them."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "offsite", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        env={**env, "COLUMNS": "100"},
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
    parser.add_argument("--only", help="Only the commands whose line holds this word.")
    options = parser.parse_args()
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    bare = time.perf_counter() - start
    print(f"python itself: {bare:.3f} s")
    print(f"{'command':<30} {'wall (median)':>14} {'best':>8} {'cpu':>8} {'importing':>10}  heavy modules imported")
    slow = []
    # keys show and archive public-key make a key where there is none: in a directory of its own, not the user's
    with tempfile.TemporaryDirectory() as data_dir:
        env = {**os.environ, "OFFSITE_DATA_DIR": data_dir}
        for args, stdin in cases():
            shown = "offsite " + " ".join(args)
            if options.only and options.only not in shown:
                continue
            seconds, best, cpu = wall(args, stdin, options.runs, env)
            importing, heavy = imports(args, stdin, env)
            figures = f"{seconds:>12.3f} s {best:>6.3f} s {cpu:>6.3f} s {importing:>8.3f} s"
            print(f"{shown:<30} {figures}  {', '.join(heavy) or '-'}")
            if seconds >= 0.5:
                slow.append(shown)
    print(f"median over 0.5 s: {', '.join(slow) or 'none'}")


if __name__ == "__main__":
    main()
