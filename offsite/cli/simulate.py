"""``offsite simulate``: virtual loggers for the registry's devices, as real TCP clients."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from offsite.cli.options import DatabaseUrl, database_engine
from offsite.settings import with_database_url

app = typer.Typer(help="Simulate the registry's data loggers.", invoke_without_command=True)


@app.callback()
def simulate(
    host: Annotated[str, typer.Option(help="Gateway address.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="Gateway port (default OFFSITE_GATEWAY_PORT).")] = None,
    devices: Annotated[int | None, typer.Option(help="Simulate only the first N registered devices.")] = None,
    history_hours: Annotated[int, typer.Option(help="Hours of hour data to send first.")] = 24,
    minute_hours: Annotated[int, typer.Option(help="Of those, the last hours also as minute data.")] = 1,
    duration: Annotated[float, typer.Option(help="Seconds to stay live afterwards (real-time data).")] = 0.0,
    realtime_every: Annotated[float, typer.Option(help="Seconds between real-time packets when live.")] = 30.0,
    database_url: DatabaseUrl = None,
) -> None:
    """Run the devices: their history first, then live, answering the platform's requests."""
    from offsite.registry.passwords import cipher
    from offsite.sim.fleet import Fleet, specs_from_registry

    settings = with_database_url(database_url)
    engine = database_engine(settings.database_url)
    specs = specs_from_registry(engine, cipher(settings), devices)
    if not specs:
        typer.echo("no active devices in the registry: import some with `offsite registry import`", err=True)
        raise typer.Exit(1)
    fleet = Fleet(specs, host, port or settings.gateway_port)
    stats = asyncio.run(
        fleet.run(
            history_hours=history_hours, minute_hours=minute_hours, live_seconds=duration, realtime_every=realtime_every
        )
    )
    typer.echo(
        f"{len(specs)} devices: {stats.sent} packets sent, {stats.acked} acknowledged, "
        f"{stats.unanswered} unanswered, {len(stats.failed_devices)} devices failed"
    )
    if stats.failed_devices:
        raise typer.Exit(1)
