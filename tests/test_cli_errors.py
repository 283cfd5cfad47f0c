"""A ``--database-url`` naming a directory or a file that is not a database is refused in one line
naming the path and what is wrong, exit 2, never a traceback."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from offsite.cli import app

runner = CliRunner()
DIRECTORY = "is a directory, not a database file"
NOT_SQLITE = "is a file that is not an SQLite database"


def _not_a_database(tmp_path: Path) -> Path:
    text = tmp_path / "README.md"
    text.write_text("# Offsite\n\nNot a database.\n", encoding="utf-8")
    return text


@pytest.mark.parametrize(("make", "wrong"), [(lambda p: p, DIRECTORY), (_not_a_database, NOT_SQLITE)])
def test_a_command_refuses_a_path_that_is_not_a_database_file(
    tmp_path: Path, make: Callable[[Path], Path], wrong: str
) -> None:
    path = make(tmp_path)
    before = sorted(tmp_path.iterdir())
    result = runner.invoke(app, ["alarms", "list", "--database-url", f"sqlite:///{path}"])
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [f"error: the database sqlite:///{path} {wrong}" + _hint(wrong)]
    assert sorted(tmp_path.iterdir()) == before  # nothing created beside it (no -wal, no -shm)


def test_an_empty_file_is_a_database_without_the_schema_not_another_kind_of_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    result = runner.invoke(app, ["alarms", "list", "--database-url", f"sqlite:///{empty}"])
    assert result.exit_code == 2
    assert "has no Offsite schema: run `offsite db upgrade`" in result.stderr


def test_an_sqlite_database_of_another_program_is_not_refused_as_another_kind_of_file(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("create table t (x)")
    result = runner.invoke(app, ["alarms", "list", "--database-url", f"sqlite:///{other}"])
    assert result.exit_code == 2
    assert "has no Offsite schema" in result.stderr


@pytest.mark.parametrize(("make", "wrong"), [(lambda p: p, DIRECTORY), (_not_a_database, NOT_SQLITE)])
def test_db_upgrade_refuses_it_in_one_line(tmp_path: Path, make: Callable[[Path], Path], wrong: str) -> None:
    """Through ``main()``, as a user runs it: `db upgrade` opens the database through Alembic."""
    path = make(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "offsite", "db", "upgrade", "--database-url", f"sqlite:///{path}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [f"offsite: the database sqlite:///{path} {wrong}" + _hint(wrong)]


def _hint(wrong: str) -> str:
    if wrong == DIRECTORY:
        return ": give the path of the file"
    return ": check the path (an Offsite database is made by `offsite db upgrade`)"
