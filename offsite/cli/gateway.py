"""``offsite gateway`` and ``offsite devices``."""

from __future__ import annotations

import asyncio
import json
import signal
from datetime import datetime
from typing import Annotated

import typer
from sqlalchemy import Engine, select
from sqlalchemy.exc import InterfaceError, OperationalError

from offsite.cli.logs import configure
from offsite.cli.options import DatabaseUrl, database_engine, day_or_today, refused_as_usage_error, region_level
from offsite.db import make_engine
from offsite.gateway.models import UnknownDevice
from offsite.gateway.rates import daily_rates, monthly_rates
from offsite.gateway.server import Gateway
from offsite.gateway.writers import SpoolElsewhere, legacy_spool, orphaned_spools, settled_writer
from offsite.hj212.times import CST
from offsite.registry.passwords import PasswordKeyError, key_source
from offsite.settings import Settings, with_database_url
from offsite.store.signing import SigningKeyError

gateway_app = typer.Typer(help="The HJ 212 ingestion gateway.", invoke_without_command=True)
devices_app = typer.Typer(help="Devices as the gateway sees them.", no_args_is_help=True)


@gateway_app.callback()
def run(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default OFFSITE_GATEWAY_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default OFFSITE_GATEWAY_PORT, 9212).")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Receive HJ 212 traffic until SIGINT or SIGTERM, then drain and stop."""
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
        import uvloop  # noqa: PLC0415

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


def _gateway_engine(settings: Settings) -> Engine:
    """The database's engine; a database that does not answer is no reason not to start, since
    the gateway spools until it does (a wrong schema or a missing SQLite file still is)."""
    try:
        return database_engine(settings.database_url, statement_timeout=settings.gateway_statement_timeout)
    except (OperationalError, InterfaceError) as exc:
        typer.echo(f"warning: the database does not answer ({str(exc).splitlines()[0]}); spooling until it does")
        return make_engine(settings.database_url, statement_timeout=settings.gateway_statement_timeout)


@devices_app.command("unknown")
def unknown(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """MNs that call but are not registered (or send a wrong password), most recent first."""
    engine = database_engine(with_database_url(database_url).database_url)
    with engine.connect() as conn:
        rows = conn.execute(select(*UnknownDevice.__table__.c).order_by(UnknownDevice.last_seen.desc())).all()
    for row in rows:
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "mn": row.mn,
                        "first_seen": row.first_seen.isoformat(),
                        "last_seen": row.last_seen.isoformat(),
                        "packets": row.packets,
                        "last_peer": row.last_peer,
                        "reason": row.last_reason,
                    }
                )
            )
        else:
            seen = f"{row.last_seen:%Y-%m-%d %H:%M:%S}"
            typer.echo(f"{row.mn}\t{row.packets} packets\tlast {seen} from {row.last_peer}\t{row.last_reason}")
    if not rows:
        typer.echo("no unknown devices have called")


@devices_app.command("status")
def status(
    day: Annotated[str | None, typer.Option("--on", help="China-time day (YYYY-MM-DD, default today).")] = None,
    level: Annotated[str, typer.Option(help="province, city, county, unit or device.")] = "city",
    month: Annotated[bool, typer.Option("--month", help="The whole month of the day, summed.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per region.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Networking (联网率), transmission (传输率), valid-data (有效率) and effective transmission rates per region."""
    if level not in {"unit", "device"}:
        level = region_level(level)
    when = day_or_today(day, datetime.now(CST).date())
    engine = database_engine(with_database_url(database_url).database_url)
    for row in monthly_rates(engine, when, level) if month else daily_rates(engine, when, level):
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "region": row.region_code,
                        "name": row.region_name,
                        "devices": row.devices,
                        "online": row.online,
                        "networking_rate": round(row.networking, 4),
                        "transmission_rate": round(row.transmission, 4),
                        "valid_rate": round(row.validity, 4),
                        "effective_transmission_rate": round(row.effective, 4),
                    },
                    ensure_ascii=False,
                )
            )
        else:
            typer.echo(
                f"{row.region_name} {row.region_code}\t{row.devices} devices\t联网率 {row.networking:.1%}\t"
                f"传输率 {row.transmission:.1%}\t有效率 {row.validity:.1%}\t有效传输率 {row.effective:.1%}"
            )
