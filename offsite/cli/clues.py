"""``offsite clues``: the stored clues (问题线索), highest score first, and their review."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from offsite.cli.options import DatabaseUrl
from offsite.db import session_factory
from offsite.db.schema import upgraded_engine
from offsite.hj212.times import CST
from offsite.registry.models import Unit
from offsite.screening.models import STATES, Clue
from offsite.settings import with_database_url

app = typer.Typer(help="Stored clues from the screening engine, and their review.", no_args_is_help=True)


@app.command("list")
def list_clues(
    state: Annotated[str | None, typer.Option(help=f"Only clues in this state: {', '.join(STATES)}.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Stored clues, highest score first."""
    if state is not None and state not in STATES:
        raise typer.BadParameter(f"{state!r} is not one of {', '.join(STATES)}", param_hint="--state")
    settings = with_database_url(database_url)
    with session_factory(upgraded_engine(settings.database_url))() as session:
        query = select(Clue, Unit).join(Unit, Unit.id == Clue.unit_id)
        if state is not None:
            query = query.where(Clue.state == state)
        found = session.execute(query.order_by(Clue.score.desc(), Clue.start_at, Clue.id)).all()
    records = [
        {
            "id": clue.id,
            "rule": clue.rule,
            "rules": clue.rules.split(","),
            "mn": clue.mn,
            "factor": clue.factor,
            "start": clue.start_at.astimezone(CST).isoformat(),
            "end": clue.end_at.astimezone(CST).isoformat(),
            "score": clue.score,
            "summary": clue.summary,
            "evidence": clue.evidence,
            "unit": unit.credit_code,
            "unit_name": unit.name,
            "state": clue.state,
        }
        for clue, unit in found
    ]
    if as_json:
        for record in records:
            typer.echo(json.dumps(record, ensure_ascii=False))
        return
    table = Table("id", "score", "rules", "unit", "window", "state", "summary")
    for clue, unit in found:
        window = f"{clue.start_at.astimezone(CST):%m-%d %H:%M}–{clue.end_at.astimezone(CST):%m-%d %H:%M}"
        table.add_row(str(clue.id), f"{clue.score:.2f}", clue.rules, unit.name, window, clue.state, clue.summary)
    Console().print(table)


@app.command("review")
def review(
    clue_id: int,
    state: Annotated[str, typer.Option(help="confirmed or dismissed.")],
    by: Annotated[str, typer.Option("--by", help="Who reviewed it (recorded).")],
    reason: Annotated[str, typer.Option(help="Why (required to dismiss).")] = "",
    database_url: DatabaseUrl = None,
) -> None:
    """Confirm or dismiss a clue; a dismissed clue is not raised again for its window."""
    if state not in ("confirmed", "dismissed"):
        raise typer.BadParameter(f"{state!r} is not confirmed or dismissed", param_hint="--state")
    if state == "dismissed" and not reason.strip():
        raise typer.BadParameter("a dismissal needs its reason", param_hint="--reason")
    settings = with_database_url(database_url)
    with session_factory(upgraded_engine(settings.database_url))() as session:
        clue = session.get(Clue, clue_id)
        if clue is None:
            typer.echo(f"no clue {clue_id}", err=True)
            raise typer.Exit(2)
        clue.state, clue.reason, clue.reviewed_by, clue.reviewed_at = state, reason, by, datetime.now(UTC)
        session.commit()
    typer.echo(f"clue {clue_id}: {state}")
