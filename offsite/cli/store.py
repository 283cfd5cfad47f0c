"""``offsite store``: partitions ahead of time, and retiring old real-time values to Parquet."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from offsite.cli.options import DatabaseUrl, database_engine
from offsite.hj212.times import CST
from offsite.settings import get_settings, with_database_url

app = typer.Typer(help="Storage upkeep: partitions and retention.", no_args_is_help=True)


@app.command("partitions")
def partitions(database_url: DatabaseUrl = None) -> None:
    """Create this month's and the next months' partitions (PostgreSQL; nothing to do on SQLite)."""
    from offsite.store.partitions import Partitions, existing

    settings = with_database_url(database_url)
    engine = database_engine(settings.database_url)
    with engine.begin() as conn:
        Partitions().ensure_ahead(conn, datetime.now(UTC).date(), settings.partition_months_ahead)
        for table in ("interval_value", "realtime_value", "power_reading"):
            names = existing(conn, table)
            typer.echo(f"{table}: {len(names)} partitions" + (f" ({names[0]} … {names[-1]})" if names else ""))


@app.command("retire")
def retire(
    out: Annotated[Path, typer.Option(help="Directory for the Parquet files (one per month).")],
    before: Annotated[
        str | None, typer.Option(help="Retire whole months ending by this day (default: today minus the retention).")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Export whole months of real-time values to Parquet, check each file, then drop them.

    Dropping a partition is the schema owner's right: without --database-url, this runs as
    OFFSITE_OWNER_DATABASE_URL when it is set."""
    from offsite.store.retention import retire_realtime

    settings = with_database_url(database_url or get_settings().owner_database_url)
    try:
        limit = (
            date.fromisoformat(before)
            if before
            else datetime.now(CST).date() - timedelta(days=settings.realtime_retention_days)
        )
    except ValueError as exc:
        raise typer.BadParameter(f"{before!r} is not a date", param_hint="--before") from exc
    engine = database_engine(settings.database_url)
    done = retire_realtime(engine, limit, out)
    for month in done:
        typer.echo(f"{month.month:%Y-%m}: {month.rows} values -> {month.file}")
    if not done:
        typer.echo(f"nothing to retire before {limit}")
