"""``offsite db``, ``offsite regions`` and ``offsite archive`` on a real database file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from alembic.script import ScriptDirectory
from typer.testing import CliRunner

from offsite.cli import app
from offsite.db import make_engine
from offsite.db.schema import alembic_config
from offsite.store.archive import ArchiveWriter, Incoming

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
    heads = runner.invoke(app, ["archive", "heads", "--database-url", url])
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
