"""Options shared by the commands."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from sqlalchemy import Engine

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


@contextmanager
def refused_as_usage_error(*errors: type[Exception]) -> Iterator[None]:
    """A typed domain error (a wrong step, a bad mark) becomes ``error: …`` on stderr and exit 2."""
    try:
        yield
    except errors as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def database_engine(url: str, **kwargs: Any) -> Engine:
    """The engine of a database at the newest schema; else one line naming what to do, exit 2."""
    # imported here: every command module imports these options, and Alembic is heavy
    from offsite.db.schema import SchemaError, ready_engine

    with refused_as_usage_error(SchemaError):
        return ready_engine(url, **kwargs)
