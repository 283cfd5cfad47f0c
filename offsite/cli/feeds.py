"""``offsite import``: series fed from outside HJ 212 (power meters, camera outages, comparison tests)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from offsite.cli.options import DatabaseUrl, database_engine
from offsite.cli.reporting import print_report
from offsite.settings import with_database_url

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from offsite.registry.errors import ImportReport

app = typer.Typer(help="Import series fed from outside HJ 212 (CSV).", no_args_is_help=True)

FileArg = Annotated[Path, typer.Argument(help="The CSV file.")]


@app.command("power")
def power(file: FileArg, database_url: DatabaseUrl = None) -> None:
    """Power readings: meter,time,kw (meter code from the registry, ISO 8601 time with offset)."""
    from offsite.store.feeds import import_power

    _run(import_power, file, database_url)


@app.command("video")
def video(file: FileArg, database_url: DatabaseUrl = None) -> None:
    """Camera-offline windows: platform,channel_id,start,end (ISO 8601 times with offset)."""
    from offsite.store.feeds import import_video

    _run(import_video, file, database_url)


@app.command("comparisons")
def comparisons(file: FileArg, database_url: DatabaseUrl = None) -> None:
    """Comparison tests: mn,factor,time,reference,online,source (screened by rule R17)."""
    from offsite.store.feeds import import_comparisons

    _run(import_comparisons, file, database_url)


def _run(action: Callable[[Connection, Path], ImportReport], file: Path, database_url: str | None) -> None:
    from offsite.store.feeds import FeedError

    engine = database_engine(with_database_url(database_url).database_url)
    try:
        with engine.begin() as conn:
            report = action(conn, file)
            if not report.ok:
                conn.rollback()
    except FeedError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    print_report(report)
