"""``offsite db``: the schema."""

from __future__ import annotations

import typer

from offsite.cli.options import DatabaseUrl
from offsite.db import make_engine
from offsite.db.schema import current_revision, upgrade
from offsite.settings import with_database_url

app = typer.Typer(help="The database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade_command(database_url: DatabaseUrl = None) -> None:
    """Create or migrate the schema to the newest revision."""
    url = with_database_url(database_url).database_url
    upgrade(url)
    typer.echo(f"database at revision {current_revision(make_engine(url))}")
