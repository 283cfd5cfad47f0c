"""``offsite clues``: the stored clues (问题线索), highest score first, and their review."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from offsite.cli.formats import CsvFlag, FormatOption, JsonFlag, chosen
from offsite.cli.options import DatabaseUrl, database_engine
from offsite.cli.output import CLOCK, Format, emit_rows, iso, plain, when
from offsite.hj212.times import CST
from offsite.screening.states import STATES
from offsite.settings import with_database_url

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from sqlalchemy.orm import Session

    from offsite.registry.models import Outlet, Unit
    from offsite.screening.models import Clue

PACKETS_SHOWN = 20
CSV_COLUMNS = ("id", "rule", "rules", "mn", "factor", "start", "end", "score", "summary", "unit", "unit_name", "state")
app = typer.Typer(help="Stored clues from the screening engine, and their review.", no_args_is_help=True)


@app.command("list")
def list_clues(
    state: Annotated[str | None, typer.Option(help=f"Only clues in this state: {', '.join(STATES)}.")] = None,
    region: Annotated[
        str | None, typer.Option(help="Only the units of this province, city or county (GB/T 2260 code).")
    ] = None,
    rule: Annotated[str | None, typer.Option(help="Only clues this rule is among (R01–R19).")] = None,
    min_score: Annotated[float | None, typer.Option(min=0.0, max=1.0, help="Only clues scoring this or more.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many, the highest scores.")] = None,
    fmt: FormatOption = Format.table,
    as_json: JsonFlag = False,
    as_csv: CsvFlag = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Stored clues, highest score first; times in China time."""
    from rich.console import Console
    from rich.table import Table
    from sqlalchemy import select

    from offsite.db import session_factory
    from offsite.registry.models import Unit
    from offsite.screening.models import Clue
    from offsite.screening.parameters import load

    out = chosen(fmt, as_json, as_csv)
    if state is not None and state not in STATES:
        raise typer.BadParameter(f"{state!r} is not one of {', '.join(STATES)}", param_hint="--state")
    if rule is not None and rule not in (known := sorted(load().rules)):
        raise typer.BadParameter(
            f"{rule!r} is not a rule of the catalogue ({known[0]}–{known[-1]})", param_hint="--rule"
        )
    settings = with_database_url(database_url)
    with session_factory(database_engine(settings.database_url))() as session:
        query = select(Clue, Unit).join(Unit, Unit.id == Clue.unit_id)
        if state is not None:
            query = query.where(Clue.state == state)
        if region is not None:
            query = query.where(Unit.region_code.in_(_within(session, region)))
        if rule is not None:
            # rules are joined as "R05,R11": a rule's three characters cannot match another's
            query = query.where(Clue.rules.contains(rule))
        if min_score is not None:
            query = query.where(Clue.score >= min_score)
        found = session.execute(query.order_by(Clue.score.desc(), Clue.start_at, Clue.id).limit(limit)).all()
    records = [_record(clue, unit) for clue, unit in found]
    if out is Format.csv:
        # a CSV cell holds text: the rule list joined, the evidence (nested) left to --format json
        emit_rows([{**r, "rules": ",".join(r["rules"])} for r in records], out, columns=CSV_COLUMNS)
        return
    if emit_rows(records, out):
        return
    from rich.text import Text

    table = Table("编号", "得分", "规则", "单位", f"时段（{CLOCK}）", "状态", "摘要")
    for clue, unit in found:
        table.add_row(
            str(clue.id),
            f"{clue.score:.2f}",
            clue.rules,
            Text(plain(unit.name)),  # a name is text: no Rich markup, no escape codes
            _window(clue.start_at, clue.end_at),
            STATE_ZH.get(clue.state, clue.state),
            Text(plain(clue.summary)),
        )
    Console().print(table)
    if not found:
        typer.echo("no clues")


@app.command("show")
def show(
    clue_id: int,
    as_json: Annotated[
        bool, typer.Option("--json", help="The clue as one JSON object, with all its evidence.")
    ] = False,
    data: Annotated[bool, typer.Option("--data", help="Every reading of the evidence window, not a digest.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """One clue with its evidence: the rules that fired and why, their parameters, the readings
    around the window, the archived packets behind them, and its review."""
    from rich.console import Console
    from sqlalchemy import select

    from offsite.db import session_factory
    from offsite.registry.models import Outlet, Unit
    from offsite.screening.models import Clue

    settings = with_database_url(database_url)
    with session_factory(database_engine(settings.database_url))() as session:
        found = session.execute(
            select(Clue, Unit, Outlet)
            .join(Unit, Unit.id == Clue.unit_id)
            .join(Outlet, Outlet.id == Clue.outlet_id)
            .where(Clue.id == clue_id)
        ).first()
    if found is None:
        typer.echo(f"no clue {clue_id}", err=True)
        raise typer.Exit(2)
    clue, unit, outlet = found
    if as_json:
        record = {**_record(clue, unit), "outlet": outlet.code, "outlet_name": outlet.name}
        record |= {"reviewed_by": clue.reviewed_by, "reason": clue.reason}
        record["reviewed_at"] = iso(clue.reviewed_at)
        typer.echo(json.dumps(record, ensure_ascii=False))
        return
    _print_clue(Console(), clue, unit, outlet, every_reading=data)


@app.command("review")
def review(
    clue_id: int,
    state: Annotated[str, typer.Option(help="confirmed or dismissed.")],
    by: Annotated[str, typer.Option("--by", help="Who reviewed it (recorded).")],
    reason: Annotated[str, typer.Option(help="Why (required to dismiss).")] = "",
    database_url: DatabaseUrl = None,
) -> None:
    """Confirm or dismiss a clue; a dismissed clue is not raised again for its window."""
    from offsite.db import session_factory
    from offsite.screening.models import Clue

    if state not in ("confirmed", "dismissed"):
        raise typer.BadParameter(f"{state!r} is not confirmed or dismissed", param_hint="--state")
    if state == "dismissed" and not reason.strip():
        raise typer.BadParameter("a dismissal needs its reason", param_hint="--reason")
    settings = with_database_url(database_url)
    with session_factory(database_engine(settings.database_url))() as session:
        clue = session.get(Clue, clue_id)
        if clue is None:
            typer.echo(f"no clue {clue_id}", err=True)
            raise typer.Exit(2)
        clue.state, clue.reason, clue.reviewed_by, clue.reviewed_at = state, reason, by, datetime.now(UTC)
        session.commit()
    typer.echo(f"clue {clue_id}: {state}")


def _within(session: Session, code: str) -> set[str]:
    """The region's code and those of every region inside it."""
    from sqlalchemy import select

    from offsite.registry.models import Region
    from offsite.registry.regions import ancestor_code

    regions = {r.code: r for r in session.scalars(select(Region))}
    if code not in regions:
        raise typer.BadParameter(f"no region {code!r} (load them with `offsite regions load`)", param_hint="--region")
    level = regions[code].level
    return {c for c in regions if ancestor_code(regions, c, level) == code}


def _record(clue: Clue, unit: Unit) -> dict[str, Any]:
    return {
        "id": clue.id,
        "rule": clue.rule,
        "rules": clue.rules.split(","),
        "mn": clue.mn,
        "factor": clue.factor,
        "start": iso(clue.start_at),
        "end": iso(clue.end_at),
        "score": clue.score,
        "summary": clue.summary,
        "evidence": clue.evidence,
        "unit": unit.credit_code,
        "unit_name": unit.name,
        "state": clue.state,
    }


def _print_clue(console: Console, clue: Clue, unit: Unit, outlet: Outlet, *, every_reading: bool) -> None:
    evidence = clue.evidence
    parameters: dict[str, dict[str, Any]] = evidence.get("parameters", {})
    console.print(f"[bold]线索 #{clue.id}[/bold]  {clue.rules}  score {clue.score:.2f}  {clue.state}")
    console.print(
        f"{unit.name} ({unit.credit_code}) · 排口 {outlet.name} ({outlet.code}) · 设备 {clue.mn} · "
        f"{_factor(clue.factor)} · {_window(clue.start_at, clue.end_at)}（{CLOCK}）"
    )
    console.print(clue.summary)
    console.print("[bold]Rules that fired[/bold]")
    for hit in evidence.get("hits", []):
        start, end = datetime.fromisoformat(hit["start"]), datetime.fromisoformat(hit["end"])
        name = parameters.get(hit["rule"], {}).get("name", "")
        console.print(f"  {hit['rule']} {name} · {_window(start, end)} · score {hit['score']:.2f}: {hit['summary']}")
    console.print("[bold]Parameters in force[/bold]")
    for rule, values in parameters.items():
        console.print(f"  {rule}: " + ", ".join(f"{k}={v}" for k, v in values.items() if k != "name"))
    window = evidence.get("data", {})
    series: dict[str, list[list[Any]]] = window.get("series", {})
    if window:
        start, end = datetime.fromisoformat(window["from"]), datetime.fromisoformat(window["to"])
        title = f"Readings {_window(start, end)}"
        console.print(_readings(series, title) if every_reading else _digest(series, title))
    packets: list[int] = evidence.get("packets", [])
    if packets:
        shown = " ".join(map(str, packets[:PACKETS_SHOWN])) + (" …" if len(packets) > PACKETS_SHOWN else "")
        console.print(f"{len(packets)} archived packets behind these readings: offsite archive show {shown}")
    console.print(f"found {when(clue.found_at)}, last seen {when(clue.updated_at)}")
    if clue.reviewed_at is not None:
        console.print(f"{clue.state} by {clue.reviewed_by} at {when(clue.reviewed_at)}: {clue.reason or '-'}")


def _digest(series: dict[str, list[list[Any]]], title: str) -> Table:
    """Per series: how many readings, their range and mean, and the flags other than N."""
    from rich.table import Table

    table = Table("series", "readings", "min", "mean", "max", "flags", title=title, title_justify="left")
    for factor, rows in series.items():
        values = [v for _, v, _ in rows if v is not None]
        flags = Counter(f for _, _, f in rows if f not in (None, "N"))
        spread = (f"{min(values):g}", f"{sum(values) / len(values):.4g}", f"{max(values):g}") if values else ("-",) * 3
        table.add_row(_factor(factor), str(len(rows)), *spread, " ".join(f"{f}×{n}" for f, n in flags.items()) or "-")
    return table


def _readings(series: dict[str, list[list[Any]]], title: str) -> Table:
    """Every reading, a row per moment and a column per series (value, and its flag if not N)."""
    from rich.table import Table

    names = list(series)
    at: dict[str, dict[str, str]] = defaultdict(dict)
    for factor, rows in series.items():
        for moment, value, flag in rows:
            at[moment][factor] = (
                f"{value:g}" + ("" if flag in (None, "N") else f" {flag}") if value is not None else "-"
            )
    table = Table(f"time（{CLOCK}）", *map(_factor, names), title=title, title_justify="left")
    for moment in sorted(at):
        table.add_row(
            f"{datetime.fromisoformat(moment).astimezone(CST):%m-%d %H:%M}", *(at[moment].get(n, "") for n in names)
        )
    return table


def _factor(code: str) -> str:
    from offsite.screening.hits import NAMES

    known = NAMES.get(code)
    return f"{known} {code}" if known else code


STATE_ZH = {"new": "待核查", "confirmed": "已确认", "dismissed": "已排除"}


def _window(start: datetime, end: datetime) -> str:
    """``2026-11-28 08:00–11-28 10:00 +08:00``: China time, its offset written once."""
    return f"{start.astimezone(CST):%Y-%m-%d %H:%M}–{end.astimezone(CST):%m-%d %H:%M} +08:00"
