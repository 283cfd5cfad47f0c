"""``offsite alarms``: the alarm list, and the officer's steps (acknowledge, verify, close)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from offsite.alarms.verdicts import VERDICTS
from offsite.cli.formats import CsvFlag, FormatOption, JsonFlag, amount, chosen
from offsite.cli.options import DatabaseUrl, database_engine, day_or_today, refused_as_usage_error
from offsite.cli.output import CLOCK, Format, emit_rows, plain, when
from offsite.hj212.codes.factors import FACTORS
from offsite.hj212.times import CST
from offsite.settings import with_database_url

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from offsite.alarms.models import Alarm

app = typer.Typer(help="Exceedance, offline and missing-data alarms.", no_args_is_help=True)

Actor = Annotated[str, typer.Option("--by", help="Who takes the step (recorded with it).")]
Comment = Annotated[str, typer.Option(help="What was found or done.")]


@app.command("grade")
def grade_command(
    day: Annotated[str | None, typer.Option(help="Last day graded (default: yesterday, China time).")] = None,
    since: Annotated[
        str | None, typer.Option("--from", help="First day graded (default: the last day); to recompute a span.")
    ] = None,
    from_minutes: Annotated[
        bool, typer.Option("--from-minutes", help="First recompute the span's hours and days from stored minutes.")
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Grade every unit on its daily values and open, raise, lower or clear its alarm; the run is
    recorded as a recomputation."""
    from offsite.alarms.recompute import recompute

    settings = with_database_url(database_url)
    last = day_or_today(day, datetime.now(CST).date() - timedelta(days=1), "--day")
    first = day_or_today(since, last, "--from")
    if first > last:
        raise typer.BadParameter(f"{first} is after {last}", param_hint="--from")
    engine = database_engine(settings.database_url)
    outcome = recompute(
        engine,
        first,
        last,
        settings=settings,
        now=datetime.now(UTC),
        trigger="manual",
        detail="offsite alarms grade",
        from_minutes=from_minutes,
    )
    typer.echo(outcome.summary())


LEVEL_ZH = {"red": "红", "orange": "橙", "yellow": "黄", "blue": "蓝", "offline": "脱机", "missing": "缺数"}
STATE_ZH = {
    "open": "待处理",
    "acknowledged": "已签收",
    "verified": "已核实",
    "closed": "已办结",
    "cleared": "已解除",
    "cleared_unverified": "解除未核实",
}


@app.command("list")
def list_alarms(
    show_all: Annotated[bool, typer.Option("--all", help="Every alarm, not only the open ones.")] = False,
    fmt: FormatOption = Format.table,
    as_json: JsonFlag = False,
    as_csv: CsvFlag = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Open alarms (with --all, every alarm), most severe first; times in China time."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text
    from sqlalchemy import select

    from offsite.alarms.models import LIVE, SEVERITY, Alarm
    from offsite.alarms.multiples import exceedance_multiple
    from offsite.db import session_factory
    from offsite.registry.models import Outlet, Region, Unit

    out = chosen(fmt, as_json, as_csv)
    settings = with_database_url(database_url)
    with session_factory(database_engine(settings.database_url))() as session:
        query = (
            select(Alarm, Unit, Region, Outlet)
            .join(Unit, Unit.id == Alarm.unit_id)
            .join(Region)
            .outerjoin(Outlet, Outlet.id == Alarm.outlet_id)
        )
        if not show_all:
            query = query.where(Alarm.state.in_(LIVE))
        found = session.execute(query).all()
    rows = sorted(found, key=lambda r: (-SEVERITY[r[0].level], -r[0].days, r[0].opened_at, r[0].id))

    def multiple(alarm: Alarm) -> float | None:
        # 超标倍数 of a value above its upper limit; none below it (a range such as pH is not "times")
        above = alarm.value is not None and alarm.limit is not None and alarm.value > alarm.limit
        return exceedance_multiple(alarm.value, alarm.limit) if above else None

    records = [
        {
            "id": alarm.id,
            "unit": unit.credit_code,
            "unit_name": unit.name,
            "region": region.name,
            "level": alarm.level,
            "days": alarm.days,
            "opened_at": alarm.opened_at,
            "updated_at": alarm.updated_at,
            "state": alarm.state,
            "factor": alarm.factor,
            "value": alarm.value,
            "limit": alarm.limit,
            "outlet": outlet.code if outlet is not None else None,
            "outlet_name": outlet.name if outlet is not None else None,
            "unit_of_measure": _measure(alarm.factor),
            "multiple": multiple(alarm),
        }
        for alarm, unit, region, outlet in rows
    ]
    if emit_rows(records, out):
        return
    table = Table(
        "编号",
        "级别",
        "超标天数",
        "单位 · 排放口",
        "地区",
        "因子",
        "值/限值",
        "超标倍数",
        f"发起时间（{CLOCK}）",
        "状态",
    )
    for (alarm, unit, region, outlet), record in zip(rows, records, strict=True):
        measure = f" {record['unit_of_measure']}" if record["unit_of_measure"] else ""
        where = plain(unit.name) + (f" · {plain(outlet.name)}（{plain(outlet.code)}）" if outlet is not None else "")
        table.add_row(
            str(alarm.id),
            LEVEL_ZH.get(alarm.level, alarm.level),
            str(alarm.days),
            Text(where),
            Text(plain(region.name)),
            _factor(alarm.factor),
            f"{amount(alarm.value)} / {amount(alarm.limit)}{measure}" if alarm.value is not None else "-",
            f"{record['multiple']:.2f} 倍" if record["multiple"] is not None else "-",
            when(alarm.opened_at),
            STATE_ZH.get(alarm.state, alarm.state),
        )
    Console().print(table)
    if not records:
        typer.echo("no open alarms" if not show_all else "no alarms")


def _measure(code: str | None) -> str | None:
    """The factor's unit (mg/m³ …) from the HJ 212 code table."""
    info = FACTORS.get(code) if code is not None else None
    return info.unit if info is not None and info.unit else None


def _factor(code: str | None) -> str:
    if code is None:
        return "-"
    info = FACTORS.get(code)
    return f"{info.name_zh} {code}" if info is not None else code


def _step(database_url: str | None, action: Callable[[Session, datetime], Alarm]) -> None:
    from offsite.alarms import lifecycle
    from offsite.db import session_factory

    settings = with_database_url(database_url)
    with session_factory(database_engine(settings.database_url))() as session:
        with refused_as_usage_error(lifecycle.AlarmStateError):
            alarm = action(session, datetime.now(UTC))
        session.commit()
        typer.echo(f"alarm {alarm.id}: {alarm.state}")


@app.command("ack")
def ack(alarm_id: int, by: Actor, comment: Comment = "", database_url: DatabaseUrl = None) -> None:
    """Acknowledge an open alarm: someone is on it."""
    from offsite.alarms import lifecycle

    _step(database_url, lambda s, now: lifecycle.acknowledge(s, alarm_id, actor=by, comment=comment, now=now))


@app.command("verify")
def verify(
    alarm_id: int,
    verdict: Annotated[str, typer.Option(help=f"One of {', '.join(VERDICTS)}.")],
    by: Actor,
    comment: Comment = "",
    database_url: DatabaseUrl = None,
) -> None:
    """Record what the alarm turned out to be."""
    from offsite.alarms import lifecycle

    _step(
        database_url,
        lambda s, now: lifecycle.verify(s, alarm_id, verdict=verdict, actor=by, comment=comment, now=now),
    )


@app.command("close")
def close(alarm_id: int, by: Actor, comment: Comment = "", database_url: DatabaseUrl = None) -> None:
    """Close a verified alarm."""
    from offsite.alarms import lifecycle

    _step(database_url, lambda s, now: lifecycle.close(s, alarm_id, actor=by, comment=comment, now=now))


def stats(
    year: Annotated[int | None, typer.Option(help="Year (default: this year, China time).")] = None,
    by_month: Annotated[bool, typer.Option("--by-month", help="One row per city and month.")] = False,
    fmt: FormatOption = Format.table,
    as_json: JsonFlag = False,
    as_csv: CsvFlag = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Alarms per city and for the province: by highest level reached, and units alarmed."""
    from rich.console import Console
    from rich.table import Table

    from offsite.alarms.statistics import alarm_statistics
    from offsite.db import session_factory

    out = chosen(fmt, as_json, as_csv)
    settings = with_database_url(database_url)
    chosen_year = year or datetime.now(CST).year
    with session_factory(database_engine(settings.database_url))() as session:
        frame = alarm_statistics(session, chosen_year, by_month=by_month)
    if emit_rows(frame.to_dicts(), out, columns=frame.columns):
        return
    # short headers, so that every level fits a terminal of 80 columns
    headers = {"region_code": "代码", "region": "地区", "month": "月", "alarms": "合计", "units": "单位数"}
    table = Table(
        *(headers.get(c, LEVEL_ZH.get(c, c)) for c in frame.columns),
        title=f"{chosen_year} 年发起的预警（按达到的最高级别；{CLOCK}）",
        title_justify="left",
        padding=(0, 1),
    )
    for record in frame.iter_rows():
        table.add_row(*("-" if v is None else str(v) for v in record))
    Console().print(table)
