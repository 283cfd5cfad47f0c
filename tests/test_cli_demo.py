"""``offsite demo`` names its database without the password (the full run is tests/test_demo.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

import offsite.demo.run
from offsite.cli import app
from offsite.db import make_engine
from offsite.demo.run import shown_url

runner = CliRunner()

SECRET_URL = "postgresql+psycopg://offsite:pa55-w0rd@db.example.org:5432/offsite"


@pytest.mark.parametrize("demo_already", [False, True])
def test_the_demo_never_prints_the_database_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_already: bool
) -> None:
    """The database refused (not a demo, or a demo already there) is named with its password hidden."""
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    assert runner.invoke(app, ["db", "upgrade", "--database-url", url]).exit_code == 0
    assert runner.invoke(app, ["regions", "load", "--database-url", url]).exit_code == 0
    engine = make_engine(url)
    name = "某化工有限公司" + ("（演示）" if demo_already else "")
    with engine.begin() as conn:
        region = conn.scalar(text("SELECT code FROM region ORDER BY code LIMIT 1"))
        conn.execute(
            text(
                "INSERT INTO unit (credit_code, name, industry_code, region_code, supervision_level, status) "
                "VALUES ('91340100MA2N000001', :name, 'C2614', :region, 'provincial', 'producing')"
            ),
            {"name": name, "region": region},
        )
    engine.dispose()

    def the_registry(asked: str) -> Engine:  # the URL given stands for a server that has this registry
        assert asked == SECRET_URL
        return make_engine(url)

    monkeypatch.setattr(offsite.demo.run, "upgraded_engine", the_registry)
    result = runner.invoke(
        app, ["demo", "--units", "50", "--dir", str(tmp_path / "demo"), "--database-url", SECRET_URL]
    )
    assert result.exit_code == 2, result.output
    assert "pa55-w0rd" not in result.output
    assert "postgresql+psycopg://offsite:***@db.example.org:5432/offsite" in result.stderr
    assert ("already holds a demo" if demo_already else "not a demo") in result.stderr


def test_shown_url() -> None:
    assert shown_url(SECRET_URL) == "postgresql+psycopg://offsite:***@db.example.org:5432/offsite"
    assert shown_url("sqlite:///offsite.db") == "sqlite:///offsite.db"
    assert "secret" not in shown_url("not a url://user:secret@host")
