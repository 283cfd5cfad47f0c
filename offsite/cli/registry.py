"""``offsite registry``: the base database of key units (一企一档) — import, export, coverage."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from offsite.cli.options import DatabaseUrl, database_engine, day_or_today, region_level
from offsite.cli.reporting import print_report
from offsite.registry.sheets import SHEETS, UnreadableFile, read_file
from offsite.settings import with_database_url

app = typer.Typer(help="The base database of key units: import, export, coverage.", no_args_is_help=True)


@app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="An .xlsx workbook (one worksheet per sheet) or a CSV file.")],
    sheet: Annotated[str | None, typer.Option(help="For a CSV: which sheet it is (default: the file name).")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Import a registry file. All or nothing: a file with any bad row changes nothing."""
    from offsite.alarms.recompute import reach_back, recompute
    from offsite.db import session_factory
    from offsite.registry.importer import import_tables
    from offsite.registry.passwords import PasswordKeyError, cipher

    settings = with_database_url(database_url)
    try:
        tables = read_file(file, sheet)
    except (UnreadableFile, OSError) as exc:
        typer.echo(f"cannot import {file}: {exc}", err=True)
        raise typer.Exit(2) from exc
    try:
        fernet = cipher(settings)
    except PasswordKeyError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    engine = database_engine(settings.database_url)
    now = datetime.now(UTC)
    with session_factory(engine)() as session, session.begin():
        report = import_tables(session, tables, fernet=fernet, source=file.name, now=now)
        if not report.ok:
            session.rollback()
    print_report(report)
    span = reach_back(report.limits_from, settings=settings, now=now) if report.limits_from else None
    if span is not None:  # a limit created or corrected for days already judged
        detail = f"limits imported from {file.name}, in force from {report.limits_from}"
        outcome = recompute(engine, *span, settings=settings, now=now, trigger="limit", detail=detail)
        typer.echo(f"recomputed {outcome.summary()}")


@app.command("export")
def export_command(
    target: Annotated[Path, typer.Argument(help="An .xlsx file, or a directory for one CSV per sheet.")],
    template: Annotated[bool, typer.Option(help="Write the blank templates instead of the registry's rows.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Export the registry (or blank templates) in the import format."""
    from offsite.db import session_factory
    from offsite.registry.exporter import export_csv, export_workbook

    engine = database_engine(with_database_url(database_url).database_url)
    with session_factory(engine)() as session:
        if target.suffix.lower() == ".xlsx":
            counts = export_workbook(session, target, empty=template)
        else:
            counts = export_csv(session, target, empty=template)
    typer.echo(", ".join(f"{name}: {n}" for name, n in counts.items()) + f" -> {target}")


@app.command("sheets")
def sheets_command() -> None:
    """List the sheets and their columns (what the templates hold)."""
    for sheet in SHEETS:
        typer.echo(f"{sheet.name} ({sheet.zh}), matched by {' + '.join(sheet.key)}:")
        for column in sheet.columns:
            mark = "*" if column.required else " "
            typer.echo(f"  {mark} {column.header}")


@app.command("coverage")
def coverage_command(
    level: Annotated[str, typer.Option(help="province, city or county.")] = "city",
    on: Annotated[str | None, typer.Option(help="Day to judge networking on (YYYY-MM-DD, default today).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per region.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """The three full coverages (三个全覆盖) per region: installed, networked, under O&M."""
    from rich.console import Console
    from rich.table import Table as RichTable

    from offsite.db import session_factory
    from offsite.registry.coverage import coverage

    level = region_level(level)
    day = day_or_today(on, datetime.now(UTC).date())
    engine = database_engine(with_database_url(database_url).database_url)
    with session_factory(engine)() as session:
        rows = coverage(session, day, level)
    if as_json:
        for row in rows:
            typer.echo(
                json.dumps(
                    {
                        "region": row.region_code,
                        "name": row.region_name,
                        "units": row.units,
                        "installed": row.installed,
                        "networked": row.networked,
                        "operated": row.operated,
                    },
                    ensure_ascii=False,
                )
            )
        return
    table = RichTable(title=f"三个全覆盖 ({day})")
    for header in ("区域", "单位数", "安装", "联网", "运维"):
        table.add_column(header, justify="right" if header != "区域" else "left")
    for row in rows:
        table.add_row(
            f"{row.region_name} {row.region_code}",
            str(row.units),
            *(f"{n} ({row.rate(n):.0%})" for n in (row.installed, row.networked, row.operated)),
        )
    Console().print(table)
