"""Running a benchmark's report on SQLite (a fresh temporary file) and on PostgreSQL (a fresh
database on the test server), or saying why PostgreSQL was skipped."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from offsite.db.schema import upgrade
from tests.databases import PostgresDatabases, postgres_reachable


def on_each_backend(report: Callable[[str, str], None]) -> None:
    """``report(name, url)`` on a migrated SQLite database, then on a migrated PostgreSQL one."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        upgrade(url)
        report("SQLite", url)
    problem = postgres_reachable()
    if problem:
        print(f"PostgreSQL skipped: {problem}")
        return
    databases = PostgresDatabases()
    try:
        with databases.fresh() as url:
            report("PostgreSQL", url)
    finally:
        databases.close()
