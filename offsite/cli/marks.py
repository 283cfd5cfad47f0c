"""``offsite marks``: enterprises file data marks, the county bureau approves or rejects them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from offsite.cli.formats import CsvFlag, FormatOption, JsonFlag, chosen
from offsite.cli.options import DatabaseUrl, database_engine, refused_as_usage_error
from offsite.cli.output import CLOCK, Format, emit_rows, plain, when
from offsite.hj212.times import CST
from offsite.quality.markkinds import MarkKindsError, mark_kinds
from offsite.settings import with_database_url

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rich.table import Table

    from offsite.quality.marks import DataMark

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
    kind: Annotated[
        str, typer.Option(help="A kind key, Chinese term or code (stopped / 停运 / F …; `marks kinds` lists them).")
    ],
    start: Annotated[str, typer.Option(help="Window start, ISO 8601 with offset.")],
    end: Annotated[str, typer.Option(help="Window end, ISO 8601 with offset.")],
    by: By,
    reason: Annotated[str, typer.Option(help="Why the data are marked.")] = "",
    device: Annotated[str | None, typer.Option("--device", help="MN of the one device (at the outlet) marked.")] = None,
    factor: Annotated[
        str | None, typer.Option("--factor", help="HJ 212-2017 code of the one factor marked, e.g. a34013.")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """File a mark for an outlet's data window, or one device's or one factor's (pending until the
    county bureau decides, by the deadline ``mark_decide_within`` sets)."""
    from offsite.alarms.contradictions import contradiction
    from offsite.db import session_factory
    from offsite.quality.markcaps import MarkCapsError, mark_caps
    from offsite.quality.marks import MarkError, cap_findings, file_mark

    settings = with_database_url(database_url)
    window = _instant(start, "--start"), _instant(end, "--end")
    engine = database_engine(settings.database_url)
    with refused_as_usage_error(MarkKindsError, MarkCapsError):
        kinds = mark_kinds(settings.mark_kinds_file)
        caps = mark_caps(settings.mark_caps_file, kinds)
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
                device=device,
                factor=factor,
                decide_within=settings.mark_decide_within,
                kinds=kinds,
                max_window=settings.mark_max_window,
                backdate_limit=settings.mark_backdate_limit,
            )
        mark.contradiction = contradiction(engine, session, mark, settings)
        beyond = cap_findings(session, [mark], caps).get(mark.id)
        session.commit()
        typer.echo(f"mark {mark.id}: pending" + (" (filed late)" if mark.late else ""))
        typer.echo(f"mark {mark.id}: {mark.kind}, {_scope(mark, device)}; to be decided by {when(mark.decide_by)}")
        if beyond:
            typer.echo(f"warning: mark {mark.id} {beyond} (the outlet's standard caps marked hours)", err=True)
        if mark.contradiction:
            typer.echo(f"mark {mark.id}: contradicted by the data: {mark.contradiction}")


@app.command("kinds")
def kinds_command(
    fmt: FormatOption = Format.table,
    as_json: JsonFlag = False,
    as_csv: CsvFlag = False,
    database_url: DatabaseUrl = None,
) -> None:
    """The mark kinds accepted: key, Chinese terms, codes, category (device: 设备标记; condition:
    工况标记), and where each comes from ([V]/[R])."""
    settings = with_database_url(database_url)
    with refused_as_usage_error(MarkKindsError):
        table = mark_kinds(settings.mark_kinds_file)
    rows = [
        {
            "key": k.key,
            "terms": "/".join(k.terms),
            "codes": "/".join(k.codes),
            "stop": k.stop,
            "tag": k.tag,
            "category": k.category,
        }
        for k in table.kinds
    ]
    if emit_rows(rows, chosen(fmt, as_json, as_csv)):
        return
    for r in rows:
        typer.echo(f"{r['key']}\t{r['terms']}\t{r['codes'] or '-'}\t{r['category']}\t{r['tag']}")


def _scope(mark: DataMark, mn: str | None) -> str:
    """``outlet 3``, ``device MN``, ``factor a34013 of device MN`` or ``factor a34013 of outlet 3``."""
    holder = f"device {mn}" if mn else f"outlet {mark.outlet_id}"
    return f"factor {mark.factor} of {holder}" if mark.factor else holder


def _decide(mark_id: int, *, approve: bool, by: str, comment: str, database_url: str | None) -> None:
    from offsite.alarms.recompute import reach_back, recompute
    from offsite.db import session_factory
    from offsite.quality.marks import MarkError, decide

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


LIST_COLUMNS = (
    "id", "outlet", "scope", "device", "factor", "kind", "start", "end", "state", "late", "filed_by", "filed_at",
    "decide_by", "escalated_at", "decided_by", "cap", "contradiction", "reason", "kind_name", "factor_name",
)  # fmt: skip


@app.command("list")
def list_marks(
    pending: Annotated[bool, typer.Option("--pending", help="Only marks awaiting a decision.")] = False,
    overdue: Annotated[
        bool,
        typer.Option("--overdue", help="Only pending marks past their decision deadline (escalated or due to be)."),
    ] = False,
    fmt: FormatOption = Format.table,
    as_json: JsonFlag = False,
    as_csv: CsvFlag = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Marks, newest first: scope, window, state, deadline and any cap their outlet's standard sets
    that they exceed. Times are China time."""
    from rich.console import Console
    from sqlalchemy import select

    from offsite.db import session_factory
    from offsite.hj212.codes.factors import factor_info
    from offsite.quality.markcaps import MarkCapsError, mark_caps
    from offsite.quality.marks import DataMark, cap_findings
    from offsite.registry.models import Device, Outlet

    out = chosen(fmt, as_json, as_csv)
    settings = with_database_url(database_url)
    with refused_as_usage_error(MarkKindsError, MarkCapsError):
        kinds = mark_kinds(settings.mark_kinds_file)
        caps = mark_caps(settings.mark_caps_file, kinds)
    now = datetime.now(UTC)
    with session_factory(database_engine(settings.database_url))() as session:
        query = select(DataMark).order_by(DataMark.id.desc())
        if pending or overdue:
            query = query.where(DataMark.state == "pending")
        if overdue:
            query = query.where(DataMark.decide_by < now)
        marks = list(session.scalars(query))
        devices = dict(session.execute(select(Device.id, Device.mn)).all()) if marks else {}
        outlets = dict(session.execute(select(Outlet.id, Outlet.code)).all()) if marks else {}
        beyond = cap_findings(session, marks, caps)
    rows: list[dict[str, Any]] = [
        {
            "id": m.id,
            "outlet": m.outlet_id,
            "scope": _scope(m, devices.get(m.device_id) if m.device_id else None),
            "device": devices.get(m.device_id) if m.device_id else None,
            "factor": m.factor,
            "kind": m.kind,
            "start": m.start_at,
            "end": m.end_at,
            "state": m.state,
            "late": m.late,
            "filed_by": m.filed_by,
            "filed_at": m.filed_at,
            "decide_by": m.decide_by,
            "escalated_at": m.escalated_at,
            "decided_by": m.decided_by,
            "cap": beyond.get(m.id),
            "contradiction": m.contradiction,
            "reason": m.reason,
            "kind_name": kinds.term(m.kind),
            "factor_name": info.name_zh if m.factor and (info := factor_info(m.factor)) else None,
        }
        for m in marks
    ]
    if emit_rows(rows, out, columns=LIST_COLUMNS):
        return
    if not rows:
        typer.echo(
            "no marks" + (" past their decision deadline" if overdue else " awaiting a decision" if pending else "")
        )
        return
    Console().print(marks_table(rows, outlets, now))


STATE_ZH = {"pending": "待审", "approved": "已批准", "rejected": "已驳回"}


def marks_table(rows: Sequence[dict[str, Any]], outlets: dict[int, str], now: datetime) -> Table:
    """The marks for people, as the other listings: kinds, states and scopes in Chinese, the window
    in China time, whether a pending mark is past its decision deadline, the cap it exceeds; the
    contradictions with the data under the table, one line each."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title=f"数据标记（时段为起、止，{CLOCK}）",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
    )
    table.add_column("编号", justify="right", no_wrap=True)
    table.add_column("排放口", overflow="fold")
    table.add_column("范围", overflow="fold", ratio=1)
    table.add_column("类型")
    table.add_column("时段", no_wrap=True)
    for header in ("状态", "逾期"):
        table.add_column(header)
    table.add_column("超限", overflow="fold", ratio=1)
    for r in rows:
        state = STATE_ZH.get(r["state"], r["state"]) + ("（迟报）" if r["late"] else "")
        table.add_row(
            str(r["id"]),
            Text(plain(outlets.get(r["outlet"], str(r["outlet"])))),
            Text(plain(_scope_zh(r))),
            Text(plain(r["kind_name"])),
            f"{when(r['start'])}\n{when(r['end'])}",
            state,
            _overdue(r, now),
            Text(plain(r["cap"] or "-")),
        )
    # a contradiction is a sentence: under the table, the width of the terminal, not a narrow cell
    said = [f"编号 {r['id']} 数据矛盾：{plain(r['contradiction'])}" for r in rows if r["contradiction"]]
    if said:
        table.caption = Text("\n".join(said))
        table.caption_justify = "left"
    return table


def _scope_zh(row: dict[str, Any]) -> str:
    """``整个排放口``, ``设备 MN``, ``烟尘 a34013`` or ``烟尘 a34013（设备 MN）``."""
    device = f"设备 {row['device']}" if row["device"] else None
    if not row["factor"]:
        return device or "整个排放口"
    factor = f"{row['factor_name']} {row['factor']}" if row["factor_name"] else row["factor"]
    return f"{factor}（{device}）" if device else factor


def _overdue(row: dict[str, Any], now: datetime) -> str:
    """For a pending mark past its decision deadline: ``已逾期，已上报`` once escalated."""
    if row["state"] != "pending" or row["decide_by"] is None or row["decide_by"] > now:
        return "否"
    return "已逾期，已上报" if row["escalated_at"] else "已逾期"
