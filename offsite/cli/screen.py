"""``offsite screen``: the rule catalogue over files; one JSON clue per line, highest score first."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, time, timedelta
from functools import partial
from pathlib import Path
from typing import Annotated

import typer

from offsite.cli.options import DatabaseUrl, database_engine, day_or_today
from offsite.hj212.times import CST
from offsite.quality.markkinds import MarkKindsError, mark_kinds
from offsite.screening.parameters import ParameterError, load
from offsite.settings import get_settings, with_database_url


def screen(
    input_files: Annotated[
        list[Path] | None,
        typer.Option(
            "--input",
            help="CSV or Parquet: mn,factor,time,value,flag (file mode). Repeat it, or give a folder of such "
            "files, to screen them as batches of devices in a pool of --workers processes.",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Processes screening batches of devices: several input files, or the database's devices "
            "200 at a time (default: OFFSITE_SCREEN_WORKERS, else one per core).",
        ),
    ] = None,
    limits: Annotated[Path | None, typer.Option(help="CSV mn,factor,limit[,basis].")] = None,
    video: Annotated[Path | None, typer.Option(help="CSV mn,start,end: camera offline windows.")] = None,
    marks: Annotated[
        Path | None,
        typer.Option(help="CSV mn,start,end,kind,approved[,filed_at][,factor] (kinds: `offsite marks kinds`)."),
    ] = None,
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
    """Screen monitoring data for fraud and malfunction (rules R01–R19).

    File mode (--input): clues as JSON lines, nothing stored. Database mode (--from/--to, no
    --input): the stored minutes of every device, with the registry's limits, cameras, marks and
    meters; clues are stored, joined to earlier ones, and listed by `offsite clues list`."""
    from offsite.screening.engine import screen as run_catalogue
    from offsite.screening.files import InputError, read_data, read_inputs
    from offsite.screening.pool import screen_each

    if not input_files:
        _on_database(config, since, until, database_url, refresh=refresh_profiles, workers=workers)
        return
    try:
        kinds = mark_kinds(get_settings().mark_kinds_file)
    except MarkKindsError as exc:
        raise typer.BadParameter(str(exc), param_hint="OFFSITE_MARK_KINDS_FILE") from None
    reader = partial(
        read_inputs, limits=limits, video=video, marks=marks, devices=devices, industries=industries, kinds=kinds
    )
    try:
        catalogue = load(config)
        batches = _batches(input_files)
        if len(batches) == 1:
            inputs = reader(batches[0])
            results = [(batches[0], run_catalogue(inputs, catalogue))]
            readings = {batches[0]: inputs.data}
        else:
            results = screen_each(batches, reader, catalogue, workers=workers or get_settings().screen_workers)
            # the evidence needs the readings: only the batches with clues are read again
            readings = {path: read_data(path) for path, result in results if result.clues.height}
    except (InputError, ParameterError) as exc:
        typer.echo(f"offsite screen: {exc}", err=True)
        raise typer.Exit(2) from exc
    records = []
    for path, result in results:
        for notice in result.notices:
            typer.echo(f"notice: {notice}", err=True)
        if result.clues.height:
            records += result.records(readings[path])
    records.sort(key=lambda r: -r["score"])  # stable: within a batch, the engine's order stands
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    if out is None:
        sys.stdout.write(lines)
    else:
        out.write_text(lines, encoding="utf-8")
    if len(batches) == 1:
        typer.echo(f"{len(records)} clues from {readings[batches[0]].height} readings", err=True)
    else:
        typer.echo(f"{len(records)} clues from {len(batches)} input files", err=True)


def _batches(given: list[Path]) -> list[Path]:
    """The input files: those given, and the CSV and Parquet files of any folder given."""
    from offsite.screening.files import InputError

    files = []
    for path in given:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in (".csv", ".parquet"))
            if not found:
                raise InputError(f"{path}: no .csv or .parquet files in this folder")
            files += found
        else:
            files.append(path)
    return files


def _on_database(
    config: Path | None,
    since: str | None,
    until: str | None,
    database_url: str | None,
    *,
    refresh: bool,
    workers: int | None,
) -> None:
    from offsite.screening.database import refresh_profiles, screen_window

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
    engine = database_engine(settings.database_url)
    workers = workers or settings.screen_workers
    start = datetime.combine(first, time(), CST)
    end = datetime.combine(last + timedelta(days=1), time(), CST)
    if refresh:
        found = refresh_profiles(engine, start, end, catalogue=catalogue, now=datetime.now(UTC), workers=workers)
        typer.echo(f"peer profiles: {found.height} over {found['industry'].n_unique()} industries")
    stored, notices = screen_window(engine, start, end, catalogue=catalogue, now=datetime.now(UTC), workers=workers)
    for notice in notices:
        typer.echo(f"notice: {notice}", err=True)
    typer.echo(
        f"{first}..{last}: {stored.clues} clues; {stored.created} new, {stored.updated} seen before, "
        f"{stored.kept_dismissed} matching a dismissed clue (left dismissed)"
    )
