"""``offsite emissions``: a month's emission totals per unit and factor against the permit caps."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated

import polars as pl
import typer

from offsite.cli.options import DatabaseUrl, database_engine
from offsite.db import session_factory
from offsite.hj212.times import CST
from offsite.quality.totals import emission_totals
from offsite.settings import with_database_url


def emissions(
    month: Annotated[str | None, typer.Option(help="YYYY-MM (default: this month, China time).")] = None,
    over: Annotated[bool, typer.Option("--over", help="Only rows over a permit cap.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Emission totals (kg) from the computed loads: the month, the year to date and the largest
    day, beside the day, month and year caps of the discharge permit."""
    chosen = _month(month)
    settings = with_database_url(database_url)
    engine = database_engine(settings.database_url)
    with session_factory(engine)() as session:
        table = emission_totals(engine, session, chosen)
    if over:
        table = table.filter(pl.col("over"))
    if as_json:
        for record in table.iter_rows(named=True):
            typer.echo(json.dumps(record, ensure_ascii=False))
        return
    typer.echo(f"emissions in {chosen:%Y-%m} (kg)")
    with pl.Config(tbl_rows=-1, tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True, tbl_cols=-1):
        typer.echo(str(table.drop("unit")))


def _month(text: str | None) -> date:
    if text is None:
        return datetime.now(CST).date().replace(day=1)
    try:
        return datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a month written YYYY-MM", param_hint="--month") from None
