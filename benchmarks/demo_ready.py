"""Time from `offsite demo` to its `ready:` line, as a newcomer runs it (issue 7: < 3 minutes at
the default size on this 2-core machine).

The demo runs as its own process in a fresh directory, on SQLite by default or on the database
given; the script prints when each phase began (its plain progress lines carry the phase), the
packets the fill took, and the time to `ready:`.

Run: python benchmarks/demo_ready.py [--units 300] [--database-url postgresql://…]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PHASES = ("province", "filling", "settling", "ready", "live", "stopped")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=300)
    parser.add_argument("--database-url", default=None, help="an empty database (default: SQLite in a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="offsite-demo-bench-") as tmp:
        cwd = Path(tmp)
        url = args.database_url or f"sqlite:///{cwd / 'offsite.db'}"
        env = {**os.environ, "OFFSITE_DATABASE_URL": url}
        command = [sys.executable, "-m", "offsite", "demo", "--units", str(args.units), "--port", "0"]
        command += ["--duration", "0", "--plain"]
        started = time.monotonic()
        phases: dict[str, float] = {}
        ready = ""
        with subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, text=True) as process:
            assert process.stdout is not None
            for line in process.stdout:
                phase = line.split(":", 1)[0]
                if phase in PHASES:
                    phases.setdefault(phase, time.monotonic() - started)
                if phase == "ready":
                    ready = line.strip()
        if process.returncode != 0:
            sys.exit(f"the demo exited {process.returncode}")
    packets = re.search(r"([\d,]+) packets acknowledged", ready)
    print(f"units {args.units} on {url.split(':', 1)[0]}")
    for phase, at in phases.items():
        print(f"  {phase:10s} first seen at {at:6.1f} s")
    print(f"packets in the fill: {packets.group(1) if packets else '?'}")
    print(f"time to ready: {phases.get('ready', float('nan')):.1f} s (target 180 s)")


if __name__ == "__main__":
    main()
