"""``offsite --help`` and light commands start without the heavy analytics and database stack,
and every sub-command the table lists is still there and runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from offsite.cli import COMMANDS, app, load_command

HEAVY = ("polars", "sqlalchemy", "numpy", "scipy", "alembic")


def loaded_after(*args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Runs ``offsite ARGS`` in a fresh interpreter; the heavy modules it had imported at exit."""
    probe = (
        "import atexit, json, sys\n"
        f"atexit.register(lambda: print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]), file=sys.stderr))\n"
        f"sys.argv = ['offsite', *{list(args)!r}]\n"
        "from offsite.cli import main\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, env={**os.environ}
    )
    return done, set(json.loads(done.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize("args", [["--help"], ["hj212", "--help"], ["demo", "--help"], []])
def test_help_imports_nothing_heavy(args: list[str]) -> None:
    done, heavy = loaded_after(*args)
    assert "Usage:" in done.stdout, done.stderr
    assert heavy == set()


def test_help_lists_every_command_with_its_line() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name, entry in COMMANDS.items():
        assert name in result.stdout
        assert entry.help[:30] in result.stdout


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_listed_command_loads_and_answers_help(name: str) -> None:
    command = load_command(name)
    assert command.name == name
    result = CliRunner().invoke(app, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert f"offsite {name}" in result.stdout


def test_a_mistyped_command_is_named_with_a_suggestion() -> None:
    result = CliRunner().invoke(app, ["stat"])
    assert result.exit_code == 2
    assert "Did you mean 'stats'?" in result.output


def test_a_one_command_group_stays_a_group() -> None:
    # `regions` has one command: it is still `offsite regions load`, not `offsite regions FILE`
    result = CliRunner().invoke(app, ["regions", "--help"])
    assert "load" in result.stdout
