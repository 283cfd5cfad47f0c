"""Options shared by the commands."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy URL of the database (default: OFFSITE_DATABASE_URL, else sqlite:///offsite.db).",
        show_default=False,
    ),
]


LEVELS = ("province", "city", "county")


def region_level(level: str) -> str:
    """A ``--level`` value, checked."""
    if level not in LEVELS:
        raise typer.BadParameter(f"{level!r} is not province, city or county", param_hint="--level")
    return level


def day_or_today(text: str | None, today: date, hint: str = "--on") -> date:
    """A day option's value (YYYY-MM-DD), or ``today`` when none is given."""
    if text is None:
        return today
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)", param_hint=hint) from exc
