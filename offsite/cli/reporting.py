"""Printing an import's report the same way for every import command."""

from __future__ import annotations

import typer

from offsite.registry.errors import ImportReport


def print_report(report: ImportReport) -> None:
    """The summary on standard output, each bad row on standard error; exit 1 if any."""
    typer.echo(report.summary())
    for error in report.errors:
        typer.echo(f"  {error}", err=True)
    if not report.ok:
        raise typer.Exit(1)
