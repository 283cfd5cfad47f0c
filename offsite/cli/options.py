"""Options shared by the commands."""

from __future__ import annotations

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
