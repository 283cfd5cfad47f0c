"""``offsite demo`` names its database without the password, and a demo interrupted before it was
ready is named and reset by the next run (the full run is tests/test_demo.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

import offsite.demo.run
from offsite.cli import app
from offsite.db import make_engine
from offsite.demo import unfinished
from offsite.demo.errors import DemoError
from offsite.demo.run import _prepare, shown_url
from offsite.settings import Settings

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


def _half_demo(tmp_path: Path) -> str:
    """A database holding a demo's units, as a run stopped while filling the month leaves it."""
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    assert runner.invoke(app, ["db", "upgrade", "--database-url", url]).exit_code == 0
    assert runner.invoke(app, ["regions", "load", "--database-url", url]).exit_code == 0
    engine = make_engine(url)
    with engine.begin() as conn:
        region = conn.scalar(text("SELECT code FROM region ORDER BY code LIMIT 1"))
        conn.execute(
            text(
                "INSERT INTO unit (credit_code, name, industry_code, region_code, supervision_level, status) "
                "VALUES ('91340100MA2N000001', '某化工有限公司（演示）', 'C2614', :region, 'provincial', 'producing')"
            ),
            {"region": region},
        )
    engine.dispose()
    return url


def _units(url: str) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        count = conn.scalar(text("SELECT count(*) FROM unit"))
    engine.dispose()
    return int(count or 0)


STARTED = datetime(2026, 12, 7, 0, 30, tzinfo=UTC)


def test_an_interrupted_demo_is_named_and_reset(tmp_path: Path) -> None:
    url = _half_demo(tmp_path)
    directory = tmp_path / "demo"
    unfinished.begin(directory, shown_url(url), STARTED)
    unfinished.reached(directory, "filling")
    said: list[str] = []
    engine = _prepare(Settings(database_url=url), False, directory, say=said.append)
    engine.dispose()
    assert said == [
        "an earlier demo (started 2026-12-07 08:30 +08:00) was interrupted while filling the month; "
        f"resetting {url} and starting again"
    ]
    assert _units(url) == 0


def test_a_finished_demo_is_still_refused_without_reset(tmp_path: Path) -> None:
    url = _half_demo(tmp_path)
    directory = tmp_path / "demo"
    unfinished.begin(directory, shown_url(url), STARTED)
    unfinished.finished(directory)  # it said `ready:`
    with pytest.raises(DemoError, match=r"already holds a demo \(1 units\)"):
        _prepare(Settings(database_url=url), False, directory)
    assert _units(url) == 1


def test_a_note_about_another_database_wipes_nothing(tmp_path: Path) -> None:
    url = _half_demo(tmp_path)
    directory = tmp_path / "demo"
    unfinished.begin(directory, "sqlite:///elsewhere.db", STARTED)
    with pytest.raises(DemoError, match="already holds a demo"):
        _prepare(Settings(database_url=url), False, directory)
    assert _units(url) == 1


def test_a_demo_stopped_before_ready_says_the_next_run_starts_again(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    unfinished.begin(directory, "sqlite:///x.db", STARTED)
    unfinished.reached(directory, "settling")
    note = unfinished.read(directory)
    assert note is not None
    assert (note.phase, note.started) == ("settling", STARTED)
    unfinished.finished(directory)
    assert unfinished.read(directory) is None
    unfinished.reached(directory, "filling")  # a finished demo gains no note
    assert unfinished.read(directory) is None


@pytest.mark.parametrize(
    "note",
    [
        "[" * 200_000,  # nested past the parser's recursion limit
        '{"database": "sqlite:///x.db", "phase": "\\u001b[2Jowned", "started": "2026-12-01T08:00:00+00:00"}',
        '{"database": "sqlite:///x.db", "phase": "filling", "started": "2026-12-01T08:00:00"}',  # no zone
        '{"database": "sqlite:///x.db", "phase": "filling", "started": "2026-12-01T08:00:00+00:00", "x": "'
        + "y" * 5000
        + '"}',
    ],
    ids=["deep", "escape-codes", "naive-time", "oversized"],
)
def test_a_tampered_note_is_no_note(tmp_path: Path, note: str) -> None:
    (tmp_path / unfinished.NAME).write_text(note, encoding="utf-8")
    assert unfinished.read(tmp_path) is None
