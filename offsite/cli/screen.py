"""``offsite screen``: the rule catalogue over files; one JSON clue per line, highest score first."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from offsite.screening.engine import screen as run_catalogue
from offsite.screening.files import InputError, read_inputs
from offsite.screening.parameters import ParameterError, load


def screen(
    input_file: Annotated[Path, typer.Option("--input", help="CSV or Parquet: mn,factor,time,value,flag.")],
    limits: Annotated[Path | None, typer.Option(help="CSV mn,factor,limit[,basis].")] = None,
    video: Annotated[Path | None, typer.Option(help="CSV mn,start,end: camera offline windows.")] = None,
    marks: Annotated[Path | None, typer.Option(help="CSV mn,start,end,kind,approved[,filed_at].")] = None,
    devices: Annotated[Path | None, typer.Option(help="CSV mn,factor,range_max,detection_limit.")] = None,
    config: Annotated[Path | None, typer.Option(help="TOML overriding the rules' parameters.")] = None,
    out: Annotated[Path | None, typer.Option(help="Write the clues here (JSON lines) instead of stdout.")] = None,
) -> None:
    """Screen monitoring data for fraud and malfunction (rules R01–R18); clues as JSON lines."""
    try:
        catalogue = load(config)
        inputs = read_inputs(input_file, limits=limits, video=video, marks=marks, devices=devices)
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
