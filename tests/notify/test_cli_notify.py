"""``offsite notify test``, ``deliver`` and ``list`` against a webhook server on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from offsite.cli import app
from offsite.db.schema import upgrade
from offsite.settings import get_settings
from tests.notify.servers import Recorder, http_server

runner = CliRunner()


@pytest.fixture(autouse=True)
def loopback_http(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The test webhook server speaks plain http on 127.0.0.1."""
    monkeypatch.setenv("OFFSITE_NOTIFY_ALLOW_LOOPBACK_HTTP", "true")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _database(tmp_path: Path) -> str:
    """A migrated SQLite database (commands other than ``offsite db upgrade`` do not migrate)."""
    url = f"sqlite:///{tmp_path / 'x.db'}"
    upgrade(url)
    return url


def test_test_message_deliver_and_list(tmp_path: Path) -> None:
    url = _database(tmp_path)
    recorder = Recorder(fail_first=1, answer={"errcode": 0})
    with http_server(recorder) as hook:
        failed = runner.invoke(app, ["notify", "test", "--channel", "wecom", "--address", hook, "--database-url", url])
        assert failed.exit_code == 1
        assert "HTTP 500" in failed.stderr
        # The failed message waits for its retry; a later pass (once due) delivers it.
        listed = runner.invoke(app, ["notify", "list", "--state", "pending", "--json", "--database-url", url])
        [row] = json.loads(listed.stdout)
        assert (row["channel"], row["address"], row["attempts"]) == ("wecom", hook, 1)
        assert "HTTP 500" in row["last_answer"]
        created = datetime.fromisoformat(row["created_at"])
        assert row["created_at"].endswith("+08:00")  # handed over in China time, offset written
        table = runner.invoke(app, ["notify", "list", "--database-url", url], env={"COLUMNS": "250"}).stdout
        assert "北京时间" in table
        assert f"{created:%Y-%m-%d %H:%M} +08:00" in table
    assert len(recorder.requests) == 1

    result = runner.invoke(app, ["notify", "deliver", "--database-url", url])
    assert result.exit_code == 0
    assert result.stdout.startswith("sent 0, retrying 0")  # not due for another minute


def test_a_test_message_to_an_address_the_channel_refuses_names_it(tmp_path: Path) -> None:
    url = _database(tmp_path)
    result = runner.invoke(
        app, ["notify", "test", "--channel", "webhook", "--address", "example.cn/hook", "--database-url", url]
    )
    assert result.exit_code == 1
    assert "webhook address refused: 'example.cn/hook' is not a URL" in result.stderr


def test_unknown_channel_and_state_are_usage_errors(tmp_path: Path) -> None:
    url = _database(tmp_path)
    result = runner.invoke(app, ["notify", "test", "--channel", "fax", "--address", "1", "--database-url", url])
    assert result.exit_code == 2
    assert "fax" in result.stderr
    result = runner.invoke(app, ["notify", "list", "--state", "lost", "--database-url", url])
    assert result.exit_code == 2
