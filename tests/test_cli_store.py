"""``offsite db``, ``offsite regions`` and ``offsite archive`` on a real database file."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

import offsite.settings
from offsite.cli import app
from offsite.db import make_engine
from offsite.db.schema import alembic_config, upgrade
from offsite.store.archive import ArchiveWriter, Incoming
from tests.databases import PostgresDatabases

runner = CliRunner()


def test_upgrade_load_and_archive_commands(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    result = runner.invoke(app, ["db", "upgrade", "--database-url", url])
    assert result.exit_code == 0
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    assert f"database at revision {head}" in result.stdout
    result = runner.invoke(app, ["regions", "load", "--database-url", url])
    assert result.stdout.strip() == "regions_34.csv: 121 created, 0 updated, 0 unchanged"

    ArchiveWriter(make_engine(url), "gw-1").append(
        [Incoming(b"##0001", "127.0.0.1:1", datetime(2026, 11, 29, tzinfo=UTC))]
    )
    heads = runner.invoke(app, ["archive", "heads", "--unsigned", "--database-url", url])
    (head,) = [json.loads(line) for line in heads.stdout.splitlines()]
    assert (head["writer"], head["seq"], len(head["hash"])) == ("gw-1", 1, 64)
    published = tmp_path / "heads.jsonl"
    published.write_text(heads.stdout)
    result = runner.invoke(app, ["archive", "verify", "--heads", str(published), "--database-url", url])
    assert result.exit_code == 0
    assert result.stdout.startswith("ok: 1 records in 1 chains")

    forged = tmp_path / "forged.jsonl"
    forged.write_text(json.dumps({**head, "hash": "00" * 32}) + "\n")
    result = runner.invoke(app, ["archive", "verify", "--heads", str(forged), "--database-url", url])
    assert result.exit_code == 1
    assert "BAD: chain gw-1, seq 1" in result.stdout
    assert "rewritten" in result.stdout


def test_a_bad_regions_file_exits_1_with_the_report(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    sheet = tmp_path / "r.csv"
    sheet.write_text("code,name,level,parent_code\n12,坏,county,340100\n", encoding="utf-8")
    assert runner.invoke(app, ["db", "upgrade", "--database-url", url]).exit_code == 0
    result = runner.invoke(app, ["regions", "load", str(sheet), "--database-url", url])
    assert result.exit_code == 1
    assert "1 bad rows, nothing changed" in result.stdout
    assert "row 2, code: '12' is not a 6-digit GB/T 2260 code" in result.stderr


def test_the_environment_variable_picks_the_database(tmp_path: Path, monkeypatch: object) -> None:
    import offsite.settings

    url = f"sqlite:///{tmp_path / 'env.db'}"
    monkeypatch.setenv("OFFSITE_DATABASE_URL", url)  # type: ignore[attr-defined]
    offsite.settings.get_settings.cache_clear()
    try:
        assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    finally:
        offsite.settings.get_settings.cache_clear()
    assert (tmp_path / "env.db").exists()


def test_only_db_upgrade_migrates(tmp_path: Path) -> None:
    """Other commands refuse a database without the schema, naming the command to run, and a
    mistyped SQLite path creates nothing."""
    missing = tmp_path / "typo.db"
    result = runner.invoke(app, ["alarms", "list", "--database-url", f"sqlite:///{missing}"])
    assert result.exit_code == 2
    assert "does not exist" in result.stderr
    assert not missing.exists()

    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    result = runner.invoke(app, ["alarms", "list", "--database-url", f"sqlite:///{empty}"])
    assert result.exit_code == 2
    assert "has no Offsite schema: run `offsite db upgrade`" in result.stderr

    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0004")
    result = runner.invoke(app, ["archive", "heads", "--unsigned", "--database-url", url])
    assert result.exit_code == 2
    assert "is at schema revision 0004, not" in result.stderr
    assert runner.invoke(app, ["db", "upgrade", "--database-url", url]).exit_code == 0
    assert runner.invoke(app, ["archive", "heads", "--unsigned", "--database-url", url]).exit_code == 0


def test_a_refused_database_url_hides_its_password(postgres_databases: PostgresDatabases) -> None:
    with postgres_databases.fresh(migrated=False) as url:
        # the test server trusts loopback, so a password in the URL is sent and ignored
        with_password = make_url(url).set(password="s3cret-Pw").render_as_string(hide_password=False)
        result = runner.invoke(app, ["alarms", "list", "--database-url", with_password])
    assert result.exit_code == 2
    assert "has no Offsite schema" in result.stderr
    assert "s3cret-Pw" not in result.stderr
    assert "***" in result.stderr


def test_an_unreachable_database_is_one_line_naming_host_and_port(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once it is closed
    url = f"postgresql://officer:s3cret-Pw@127.0.0.1:{port}/offsite"
    done = subprocess.run(
        [sys.executable, "-m", "offsite", "alarms", "list", "--database-url", url],
        capture_output=True,
        text=True,
        env={**os.environ, "OFFSITE_DATA_DIR": str(tmp_path)},
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("offsite: cannot reach the database:")
    assert f'"127.0.0.1", port {port}' in line
    assert "s3cret-Pw" not in done.stderr


def test_heads_are_not_signed_with_a_key_made_on_the_spot(tmp_path: Path) -> None:
    """A second key made by accident on another host would make the first's checkpoints look forged."""
    url = f"sqlite:///{tmp_path / 'h.db'}"
    assert runner.invoke(app, ["db", "upgrade", "--database-url", url]).exit_code == 0
    offsite.settings.get_settings.cache_clear()
    try:
        result = runner.invoke(
            app, ["archive", "heads", "--database-url", url], env={"OFFSITE_DATA_DIR": str(tmp_path / "data")}
        )
    finally:
        offsite.settings.get_settings.cache_clear()
    assert result.exit_code == 2
    assert "no archive signing key at" in result.stderr
    assert not (tmp_path / "data" / "archive-signing.key").exists()
