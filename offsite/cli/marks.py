"""``offsite marks``: enterprises file data marks, the county bureau approves or rejects them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from sqlalchemy import select

from offsite.alarms.contradictions import contradiction
from offsite.alarms.recompute import reach_back, recompute
from offsite.cli.options import DatabaseUrl, database_engine, refused_as_usage_error
from offsite.db import session_factory
from offsite.hj212.times import CST
from offsite.quality.marks import MARK_KINDS, DataMark, MarkError, decide, file_mark
from offsite.settings import with_database_url

app = typer.Typer(help="Data marks (数据标记): filing and approval.", no_args_is_help=True)

By = Annotated[str, typer.Option("--by", help="Who files or decides (recorded).")]


def _instant(text: str, option: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 time", param_hint=option) from exc
    if moment.tzinfo is None:
        raise typer.BadParameter(f"{text!r} has no UTC offset (e.g. +08:00)", param_hint=option)
    return moment


@app.command("file")
def file_command(
    outlet: Annotated[int, typer.Option(help="Outlet id.")],
    kind: Annotated[str, typer.Option(help=f"One of {', '.join(MARK_KINDS)}.")],
    start: Annotated[str, typer.Option(help="Window start, ISO 8601 with offset.")],
    end: Annotated[str, typer.Option(help="Window end, ISO 8601 with offset.")],
    by: By,
    reason: Annotated[str, typer.Option(help="Why the data are marked.")] = "",
    database_url: DatabaseUrl = None,
) -> None:
    """File a mark for an outlet's data window (pending until the county bureau decides)."""
    settings = with_database_url(database_url)
    window = _instant(start, "--start"), _instant(end, "--end")
    engine = database_engine(settings.database_url)
    with session_factory(engine)() as session:
        with refused_as_usage_error(MarkError):
            mark = file_mark(
                session,
                outlet_id=outlet,
                kind=kind,
                start=window[0],
                end=window[1],
                reason=reason,
                by=by,
                now=datetime.now(UTC),
                late_after=settings.mark_late_after,
            )
        mark.contradiction = contradiction(engine, session, mark, settings)
        session.commit()
        typer.echo(f"mark {mark.id}: pending" + (" (filed late)" if mark.late else ""))
        if mark.contradiction:
            typer.echo(f"mark {mark.id}: contradicted by the data: {mark.contradiction}")


def _decide(mark_id: int, *, approve: bool, by: str, comment: str, database_url: str | None) -> None:
    settings = with_database_url(database_url)
    engine = database_engine(settings.database_url)
    now = datetime.now(UTC)
    with session_factory(engine)() as session:
        with refused_as_usage_error(MarkError):
            mark = decide(session, mark_id, approve=approve, by=by, comment=comment, now=now)
        session.commit()
        typer.echo(f"mark {mark.id}: {mark.state}")
        begins = mark.start_at.astimezone(CST).date()
    span = reach_back(begins, settings=settings, now=now) if approve else None
    if span is not None:  # approved after its days were judged: judge them again without its hours
        detail = f"mark {mark_id} ({mark.kind}) approved by {by}"
        outcome = recompute(engine, *span, settings=settings, now=now, trigger="mark", detail=detail)
        typer.echo(f"recomputed {outcome.summary()}")


@app.command("approve")
def approve(mark_id: int, by: By, comment: str = "", database_url: DatabaseUrl = None) -> None:
    """Approve a mark: its hours leave exceedance judgement, and days already judged are recomputed."""
    _decide(mark_id, approve=True, by=by, comment=comment, database_url=database_url)


@app.command("reject")
def reject(mark_id: int, by: By, comment: str = "", database_url: DatabaseUrl = None) -> None:
    """Reject a mark: the data stay judged as they are."""
    _decide(mark_id, approve=False, by=by, comment=comment, database_url=database_url)


@app.command("list")
def list_marks(
    pending: Annotated[bool, typer.Option("--pending", help="Only marks awaiting a decision.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Marks as JSON lines, newest first."""
    settings = with_database_url(database_url)
    with session_factory(database_engine(settings.database_url))() as session:
        query = select(DataMark).order_by(DataMark.id.desc())
        if pending:
            query = query.where(DataMark.state == "pending")
        for m in session.scalars(query):
            record = {
                "id": m.id,
                "outlet": m.outlet_id,
                "kind": m.kind,
                "start": m.start_at.isoformat(),
                "end": m.end_at.isoformat(),
                "state": m.state,
                "late": m.late,
                "filed_by": m.filed_by,
                "reason": m.reason,
                "decided_by": m.decided_by,
                "contradiction": m.contradiction,
            }
            typer.echo(json.dumps(record, ensure_ascii=False))
