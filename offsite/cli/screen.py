"""``offsite screen``: the rule catalogue over files; one JSON clue per line, highest score first."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Annotated

import typer

from offsite.cli.options import DatabaseUrl, day_or_today
from offsite.db.schema import upgraded_engine
from offsite.hj212.times import CST
from offsite.screening.database import refresh_profiles, screen_window
from offsite.screening.engine import screen as run_catalogue
from offsite.screening.files import InputError, read_inputs
from offsite.screening.parameters import ParameterError, load
from offsite.settings import with_database_url


def screen(
    input_file: Annotated[
        Path | None, typer.Option("--input", help="CSV or Parquet: mn,factor,time,value,flag (file mode).")
    ] = None,
    limits: Annotated[Path | None, typer.Option(help="CSV mn,factor,limit[,basis].")] = None,
    video: Annotated[Path | None, typer.Option(help="CSV mn,start,end: camera offline windows.")] = None,
    marks: Annotated[Path | None, typer.Option(help="CSV mn,start,end,kind,approved[,filed_at].")] = None,
    devices: Annotated[Path | None, typer.Option(help="CSV mn,factor,range_max,detection_limit.")] = None,
    industries: Annotated[
        Path | None, typer.Option(help="CSV mn,industry: the peers each device is compared with (default: all).")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="TOML overriding the rules' parameters.")] = None,
    out: Annotated[Path | None, typer.Option(help="Write the clues here (JSON lines) instead of stdout.")] = None,
    since: Annotated[str | None, typer.Option("--from", help="Database mode: first day screened.")] = None,
    until: Annotated[
        str | None, typer.Option("--to", help="Database mode: last day screened (default: --from).")
    ] = None,
    refresh_profiles: Annotated[
        bool,
        typer.Option(
            "--refresh-profiles",
            help="Database mode: first profile the peers over the same days (otherwise the stored profiles serve).",
        ),
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Screen monitoring data for fraud and malfunction (rules R01–R18).

    File mode (--input): clues as JSON lines, nothing stored. Database mode (--from/--to, no
    --input): the stored minutes of every device, with the registry's limits, cameras, marks and
    meters; clues are stored, joined to earlier ones, and listed by `offsite clues list`."""
    if input_file is None:
        _on_database(config, since, until, database_url, refresh=refresh_profiles)
        return
    try:
        catalogue = load(config)
        inputs = read_inputs(
            input_file, limits=limits, video=video, marks=marks, devices=devices, industries=industries
        )
    except (InputError, ParameterError) as exc:
        typer.echo(f"offsite screen: {exc}", err=True)
        raise typer.Exit(2) from exc
    result = run_catalogue(inputs, catalogue)
    for notice in result.notices:
        typer.echo(f"notice: {notice}", err=True)
    records = result.records(inputs.data)
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    if out is None:
        sys.stdout.write(lines)
    else:
        out.write_text(lines, encoding="utf-8")
    typer.echo(f"{len(records)} clues from {inputs.data.height} readings", err=True)


def _on_database(
    config: Path | None, since: str | None, until: str | None, database_url: str | None, *, refresh: bool
) -> None:
    if since is None:
        raise typer.BadParameter("give --input FILE, or --from DAY [--to DAY] to screen the database")
    try:
        catalogue = load(config)
    except ParameterError as exc:
        typer.echo(f"offsite screen: {exc}", err=True)
        raise typer.Exit(2) from exc
    first = day_or_today(since, datetime.now(CST).date(), "--from")
    last = day_or_today(until, first, "--to")
    if first > last:
        raise typer.BadParameter(f"{first} is after {last}", param_hint="--from")
    settings = with_database_url(database_url)
    engine = upgraded_engine(settings.database_url)
    start = datetime.combine(first, time(), CST)
    end = datetime.combine(last + timedelta(days=1), time(), CST)
    if refresh:
        found = refresh_profiles(engine, start, end, catalogue=catalogue, now=datetime.now(UTC))
        typer.echo(f"peer profiles: {found.height} over {found['industry'].n_unique()} industries")
    stored, notices = screen_window(engine, start, end, catalogue=catalogue, now=datetime.now(UTC))
    for notice in notices:
        typer.echo(f"notice: {notice}", err=True)
    typer.echo(
        f"{first}..{last}: {stored.clues} clues; {stored.created} new, {stored.updated} seen before, "
        f"{stored.kept_dismissed} matching a dismissed clue (left dismissed)"
    )
