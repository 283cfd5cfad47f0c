"""``offsite aggregate``: minute data in a file → valid hourly and daily values in a file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from offsite.quality.aggregate import BadInput, Outlet, aggregate, read_minutes, write_output

app = typer.Typer(help="Minute → hour → day on files.", invoke_without_command=True)


@app.callback()
def run(
    input_file: Annotated[Path, typer.Option("--input", help="CSV or Parquet: mn,factor,time,value,flag.")],
    out: Annotated[Path, typer.Option(help="Output CSV: mn,factor,period,time,value,corrected,valid,n_valid.")],
    outlets: Annotated[Path | None, typer.Option(help="CSV mn,medium,o2_ref,area_m2 (medium gas or water).")] = None,
    flag_map: Annotated[str | None, typer.Option(help="Map flags before judging them, e.g. O=N,X=D.")] = None,
) -> None:
    """Aggregate minute data to hours and days, judging validity by the data flags."""
    mapping = _flag_map(flag_map)
    try:
        minutes = read_minutes(str(input_file), mapping)
        described = _outlets(outlets) if outlets else {}
    except BadInput as exc:
        typer.echo(f"offsite aggregate: {exc}", err=True)
        raise typer.Exit(2) from exc
    except (OSError, pl.exceptions.PolarsError) as exc:
        typer.echo(f"offsite aggregate: cannot read {input_file}: {exc}", err=True)
        raise typer.Exit(2) from exc
    result = aggregate(minutes, described)
    write_output(result, str(out))
    hours = result.filter(pl.col("period") == "hour")
    typer.echo(
        f"{hours.height} hours ({int(hours['valid'].sum())} valid), {result.height - hours.height} days -> {out}"
    )


def _flag_map(text: str | None) -> dict[str, str]:
    mapping = {}
    for pair in (text or "").split(","):
        if not pair.strip():
            continue
        source, eq, target = pair.partition("=")
        if not eq or not source.strip() or not target.strip():
            raise typer.BadParameter(f"{pair!r} is not X=Y", param_hint="--flag-map")
        mapping[source.strip()] = target.strip()
    return mapping


def _outlets(path: Path) -> dict[str, Outlet]:
    frame = pl.read_csv(path, infer_schema=False)
    if not {"mn", "medium"} <= set(frame.columns):
        raise BadInput(f"{path}: the outlets file needs at least mn,medium")
    out = {}
    for number, row in enumerate(frame.iter_rows(named=True), start=2):
        if row["medium"] not in ("gas", "water"):
            raise BadInput(f"{path} row {number}: medium {row['medium']!r} is not gas or water")
        try:
            o2 = float(row["o2_ref"]) if row.get("o2_ref") else None
            area = float(row["area_m2"]) if row.get("area_m2") else None
        except ValueError as exc:
            raise BadInput(f"{path} row {number}: {exc}") from exc
        out[row["mn"]] = Outlet(row["medium"], o2, area)
    return out
