"""``offsite gateway`` and ``offsite devices``."""

from __future__ import annotations

import asyncio
import signal
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from offsite.cli.formats import CsvFlag, FormatOption, JsonFlag, chosen
from offsite.cli.options import DatabaseUrl, database_engine, day_or_today, refused_as_usage_error
from offsite.cli.output import CLOCK, Format, emit_rows, when
from offsite.hj212.times import CST
from offsite.quality.markkinds import mark_kinds
from offsite.settings import with_database_url

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rich.table import Table
    from sqlalchemy import Engine

    from offsite.quality.rates import Rates
    from offsite.settings import Settings

gateway_app = typer.Typer(help="The HJ 212 ingestion gateway.", invoke_without_command=True)
devices_app = typer.Typer(help="Devices as the gateway sees them.", no_args_is_help=True)


@gateway_app.callback()
def run(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default OFFSITE_GATEWAY_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default OFFSITE_GATEWAY_PORT, 9212).")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Receive HJ 212 traffic until SIGINT or SIGTERM, then drain and stop."""
    from offsite.cli.logs import configure
    from offsite.gateway.server import Gateway
    from offsite.gateway.writers import SpoolElsewhere, legacy_spool, orphaned_spools, settled_writer
    from offsite.registry.passwords import PasswordKeyError, key_source
    from offsite.store.signing import SigningKeyError

    settings = with_database_url(database_url)
    updates = {k: v for k, v in (("gateway_host", host), ("gateway_port", port)) if v is not None}
    settings = settings.model_copy(update=updates)
    configure(settings.log_format)
    with refused_as_usage_error(SpoolElsewhere):
        settings = settled_writer(settings)
        orphaned_spools(settings.data_dir, settings.spool_dir)
        legacy_spool(settings.spool_dir)
    engine = _gateway_engine(settings)
    typer.echo(f"data directory: {settings.data_dir}")
    typer.echo(f"spool: {settings.spool_dir} (archive chain {settings.archive_writer})")

    async def main() -> None:
        with refused_as_usage_error(PasswordKeyError, SpoolElsewhere, SigningKeyError):
            typer.echo(f"device-password key: {key_source(settings)}")
            gateway = Gateway(settings, engine)
            host_, port_ = await gateway.start()
        typer.echo(f"listening on {host_}:{port_}")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        typer.echo("stopping: draining sessions and committing what was received")
        await gateway.stop()

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


def _gateway_engine(settings: Settings) -> Engine:
    """The database's engine; a database that does not answer is no reason not to start, since
    the gateway spools until it does (a wrong schema or a missing SQLite file still is)."""
    from sqlalchemy.exc import InterfaceError, OperationalError

    from offsite.db import make_engine

    try:
        return database_engine(settings.database_url, statement_timeout=settings.gateway_statement_timeout)
    except (OperationalError, InterfaceError) as exc:
        typer.echo(f"warning: the database does not answer ({str(exc).splitlines()[0]}); spooling until it does")
        return make_engine(settings.database_url, statement_timeout=settings.gateway_statement_timeout)


@devices_app.command("unknown")
def unknown(
    fmt: FormatOption = Format.table,
    as_json: JsonFlag = False,
    as_csv: CsvFlag = False,
    database_url: DatabaseUrl = None,
) -> None:
    """MNs that call but are not registered (or send a wrong password), most recent first."""
    from sqlalchemy import select

    from offsite.gateway.models import UnknownDevice

    out = chosen(fmt, as_json, as_csv)
    engine = database_engine(with_database_url(database_url).database_url)
    with engine.connect() as conn:
        rows = conn.execute(select(*UnknownDevice.__table__.c).order_by(UnknownDevice.last_seen.desc())).all()
    records = [
        {
            "mn": row.mn,
            "first_seen": row.first_seen,
            "last_seen": row.last_seen,
            "packets": row.packets,
            "last_peer": row.last_peer,
            "reason": row.last_reason,
        }
        for row in rows
    ]
    if emit_rows(records, out):
        return
    for r in records:
        typer.echo(
            f"{r['mn']}\t{r['packets']} packets\tlast {when(r['last_seen'], seconds=True)} from {r['last_peer']}"
            f"\t{r['reason']}"
        )
    if not rows:
        typer.echo("no unknown devices have called")


@devices_app.command("status")
def status(
    day: Annotated[
        str | None, typer.Option("--on", help="China-time day (YYYY-MM-DD; default: the last full day, yesterday).")
    ] = None,
    today: Annotated[
        bool, typer.Option("--today", help="Today so far: over the hours already elapsed, China time.")
    ] = False,
    by: Annotated[
        str, typer.Option("--by", "--level", help="province, city, county, unit, device or factor.")
    ] = "city",
    month: Annotated[
        bool, typer.Option("--month", help="The whole month of the day, summed (devices become device-days).")
    ] = False,
    fmt: FormatOption = Format.table,
    as_json: JsonFlag = False,
    as_csv: CsvFlag = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Networking (联网率), transmission (传输率), valid-data (有效率) and effective transmission
    (有效传输率) rates per region, unit, device or factor, over the hours expected: approved stop
    marks and units declared stopped are not expected to send."""
    from rich.console import Console

    from offsite.gateway.rates import online_by_status
    from offsite.quality.rates import LEVELS, daily_rates, hours_elapsed, monthly_rates

    if by not in LEVELS:
        raise typer.BadParameter(f"{by!r} is not one of {', '.join(LEVELS)}", param_hint="--by")
    if today and day is not None:
        raise typer.BadParameter("--today and --on name two days; choose one", param_hint="--today")
    out = chosen(fmt, as_json, as_csv)
    now = datetime.now(CST)
    chosen_day = now.date() if today else day_or_today(day, now.date() - timedelta(days=1))
    settings = with_database_url(database_url)
    engine = database_engine(settings.database_url)
    online, stops = online_by_status(engine), mark_kinds(settings.mark_kinds_file).stop_keys()
    effect = settings.mark_takes_effect
    if month:
        rows = monthly_rates(engine, chosen_day, by, now=now, online=online, stop_kinds=stops, takes_effect=effect)
        first = chosen_day.replace(day=1)
        days = rows[0].days if rows else 0
        so_far = f"，今日截至 {now:%H}:00" if first <= now.date() < (first + timedelta(days=32)).replace(day=1) else ""
        title = f"{first:%Y-%m} 月，{days} 天{so_far}（{CLOCK}；设备数单位：台·日）"
    else:
        elapsed = hours_elapsed(chosen_day, now)
        until = now if elapsed < 24 else None
        rows = daily_rates(engine, chosen_day, by, now=until, online=online, stop_kinds=stops, takes_effect=effect)
        if elapsed >= 24:
            title = f"{chosen_day} 全天（{CLOCK}；设备数单位：台）"
        elif elapsed == 0:
            title = f"{chosen_day} 尚未开始或刚开始，没有已过的整点小时（{CLOCK}）"
        else:
            title = f"{chosen_day} 今日截至 {elapsed:02d}:00，按已过 {elapsed} 小时计（{CLOCK}；设备数单位：台）"
    period: dict[str, object] = {"month": f"{chosen_day:%Y-%m}"} if month else {"day": chosen_day.isoformat()}
    if today and not month:
        period["today_hours_elapsed"] = hours_elapsed(chosen_day, now)
    records = [
        {
            "region": r.code,
            "name": r.name,
            "devices": r.devices,
            "expected_devices": r.expected_devices,
            "online": r.online,
            "days": r.days,
            "device_unit": "device-days" if month else "devices",
            "hours_expected": r.hours_expected,
            "hours_received": r.hours_received,
            "hours_valid": r.hours_valid,
            "networking_rate": _rounded(r.networking),
            "transmission_rate": _rounded(r.transmission),
            "valid_rate": _rounded(r.validity),
            "effective_transmission_rate": _rounded(r.effective),
            **period,
        }
        for r in rows
    ]
    if emit_rows(records, out):
        return
    if not rows:
        typer.echo(f"{title}：没有登记的设备。")
        return
    console = Console()
    console.print(rates_table(rows, by, title, month=month, wide=console.width >= WIDE_COLUMNS))


WIDE_COLUMNS = 120
"""From this terminal width on, the table also shows the hour counts behind the rates."""
FIRST_HEADER = {
    "province": "省",
    "city": "城市",
    "county": "区县",
    "unit": "单位",
    "device": "设备（MN）",
    "factor": "因子",
}


def rates_table(rows: Sequence[Rates], by: str, title: str, *, month: bool, wide: bool) -> Table:
    """The rates for people: the name once (with a code column only where the code says something
    the name does not and is short: regions and factors), counts and rates right-aligned and never
    wrapped, the units in the caption; the name is the one column that wraps."""
    from rich import box
    from rich.table import Table

    caption = f"设备、应传、联网：{'台·日' if month else '台'}；率：%"
    caption += "" if wide else "；应传、已传、有效小时数见 --json 或 --csv"
    table = Table(
        title=title,
        caption=caption,
        title_justify="left",
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
    )
    with_code = by not in ("unit", "device") and any(r.name != r.code for r in rows)
    if with_code:
        table.add_column("代码", no_wrap=True)
    table.add_column(FIRST_HEADER.get(by, "名称"), overflow="fold", ratio=1, min_width=8)
    figures = ["设备", "应传", "联网", "联网率"]
    if wide:
        figures += ["应传小时", "已传小时", "有效小时"]
    figures += ["传输率", "有效率", "有效传输率"]
    for header in figures:
        table.add_column(header, justify="right", no_wrap=True)
    for r in rows:
        cells = [r.code] if with_code else []
        cells += [r.name, str(r.devices), str(r.expected_devices), str(r.online), _share(r.networking)]
        if wide:
            cells += [str(r.hours_expected), str(r.hours_received), str(r.hours_valid)]
        cells += [_share(r.transmission), _share(r.validity), _share(r.effective)]
        table.add_row(*cells)
    return table


def _share(share: float | None) -> str:
    """``0.9583`` → ``95.8`` (the caption says %); none (nothing to divide by) → ``-``."""
    return "-" if share is None else f"{share * 100:.1f}"


def _rounded(share: float | None) -> float | None:
    return None if share is None else round(share, 4)
