"""``offsite --help`` and light commands start without the heavy analytics and database stack,
and every sub-command the table lists is still there and runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from offsite.cli import COMMANDS, app, load_command
from offsite.hj212 import encode
from offsite.hj212.times import CST
from offsite.hj212.uploads import upload

HEAVY = ("polars", "sqlalchemy", "numpy", "scipy", "alembic", "pandas", "openpyxl", "apscheduler", "uvloop")


def loaded_after(*args: str, stdin: str = "") -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Runs ``offsite ARGS`` in a fresh interpreter; the heavy modules it had imported at exit."""
    probe = (
        "import atexit, json, sys\n"
        f"atexit.register(lambda: print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]), file=sys.stderr))\n"
        f"sys.argv = ['offsite', *{list(args)!r}]\n"
        "from offsite.cli import main\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], input=stdin, capture_output=True, text=True, check=False, env={**os.environ}
    )
    return done, set(json.loads(done.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize("args", [["--help"], ["hj212", "--help"], ["demo", "--help"], []])
def test_help_imports_nothing_heavy(args: list[str]) -> None:
    done, heavy = loaded_after(*args)
    assert "Usage:" in done.stdout, done.stderr
    assert heavy == set()


def test_showing_the_key_in_use_imports_nothing_heavy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OFFSITE_DATA_DIR", str(tmp_path))
    done, heavy = loaded_after("keys", "show")
    assert done.returncode == 0, done.stderr
    assert "fingerprint" in done.stdout
    assert heavy == set()


def test_decoding_packets_imports_nothing_heavy() -> None:
    packet = upload(
        cn="2011",
        mn="88888880000001",
        pw="123456",
        st="31",
        qn="20261207080000000",
        data_time=datetime(2026, 12, 7, 8, tzinfo=CST),
        factors={"a21026": {"Rtd": 12.5, "Flag": "N"}},
    )
    done, heavy = loaded_after("hj212", "decode", stdin=encode(packet).decode("ascii"))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[0])["mn"] == "88888880000001"
    assert heavy == set()


HELP_PROBE = """
import json, sys
from typer.testing import CliRunner
from offsite.cli import app, load_command
name = sys.argv[1]
runner = CliRunner()
asked = [[name, "--help"]] + [[name, sub, "--help"] for sub in getattr(load_command(name), "commands", {})]
answers = {" ".join(args): runner.invoke(app, args, env={"COLUMNS": "120"}) for args in asked}
print(json.dumps({
    "answers": {args: [r.exit_code, r.output] for args, r in answers.items()},
    "heavy": [m for m in HEAVY if m in sys.modules],
}))
"""


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_group_and_its_commands_answer_help_without_the_heavy_stack(name: str) -> None:
    # one fresh interpreter a group: its --help and each of its commands' --help
    done = subprocess.run(
        [sys.executable, "-c", f"HEAVY = {HEAVY!r}\n{HELP_PROBE}", name],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    for args, (code, output) in found["answers"].items():
        assert code == 0, f"offsite {args}: {output}"
        assert "Usage:" in output, f"offsite {args}: {output}"
    assert found["heavy"] == []


def test_what_help_names_without_loading_the_models_is_what_the_models_hold() -> None:
    # the help texts read these from light modules (or, for --for, write them out): the models
    # and the roles module are the ones that judge
    from offsite.alarms import verdicts
    from offsite.alarms.models import VERDICTS
    from offsite.cli.db import _DEFAULT_PURPOSE, Purpose
    from offsite.db.roles import DEFAULT_PURPOSE, PURPOSES
    from offsite.notify import vocabulary
    from offsite.notify.models import CHANNELS, STATES
    from offsite.screening import states
    from offsite.screening.models import STATES as CLUE_STATES

    assert verdicts.VERDICTS == VERDICTS
    assert states.STATES == CLUE_STATES
    assert (vocabulary.CHANNELS, vocabulary.STATES) == (CHANNELS, STATES)
    assert tuple(Purpose) == PURPOSES
    assert _DEFAULT_PURPOSE == DEFAULT_PURPOSE


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
