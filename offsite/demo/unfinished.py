"""The note a demo leaves in its directory until it is ready: which database, which phase.

A demo stopped before ``ready:`` (Ctrl-C while the month fills, a crash, a killed terminal) leaves
a database holding part of a province. The note, written before the province is built and removed
once the demo is ready, lets the next run say what happened and start again, rather than refuse
the half demo as one that "already holds a demo".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from offsite.hj212.times import CST

NAME = "unfinished.json"
MAX_NOTE = 4096
"""Bytes a note may hold (it holds a URL, a phase and a time)."""
PHASES = {
    "building": "building the province",
    "filling": "filling the month",
    "settling": "grading, screening and delivering the month",
}


@dataclass(frozen=True, slots=True)
class Unfinished:
    database: str
    """The database URL as it may be shown (password hidden)."""
    phase: str
    started: datetime

    def said(self) -> str:
        """What the next run tells the user: "an earlier demo was interrupted while …"."""
        started = self.started.astimezone(CST).strftime("%Y-%m-%d %H:%M +08:00")
        return f"an earlier demo (started {started}) was interrupted while {PHASES.get(self.phase, self.phase)}"


def begin(directory: Path, database: str, now: datetime) -> None:
    """Note that a demo of ``database`` is being built in ``directory``."""
    write(directory, Unfinished(database, "building", now))


def reached(directory: Path, phase: str) -> None:
    """Note the phase the unfinished demo has reached (nothing if no note: a finished demo)."""
    found = read(directory)
    if found is not None:
        write(directory, Unfinished(found.database, phase, found.started))


def finished(directory: Path) -> None:
    """The demo is ready: what the database holds is a whole demo."""
    (directory / NAME).unlink(missing_ok=True)


def read(directory: Path) -> Unfinished | None:
    """The note an unfinished demo left, or None: a note that cannot be read, or that says what no
    demo writes (a phase we do not know, a time without its zone, more than a note's size), is no
    note — it is a file in the user's directory, so nothing in it is printed or trusted as is."""
    try:
        with (directory / NAME).open("rb") as file:
            text = file.read(MAX_NOTE + 1)
        if len(text) > MAX_NOTE:
            return None
        raw = json.loads(text.decode("utf-8"))
        note = Unfinished(str(raw["database"]), str(raw["phase"]), datetime.fromisoformat(raw["started"]))
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None
    if note.phase not in PHASES or note.started.tzinfo is None:
        return None
    return note


def write(directory: Path, note: Unfinished) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(
        {"database": note.database, "phase": note.phase, "started": note.started.astimezone(UTC).isoformat()}
    )
    (directory / NAME).write_text(text + "\n", encoding="utf-8")
