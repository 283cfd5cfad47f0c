"""``offsite demo``: the whole province on one machine (see ``offsite.demo.run``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from offsite.cli.options import DatabaseUrl
from offsite.demo import unfinished
from offsite.demo.errors import DemoError
from offsite.demo.unfinished import PHASES
from offsite.settings import with_database_url


def demo(
    units: Annotated[int, typer.Option(help="Key units in the province (at least one per scenario).")] = 300,
    port: Annotated[int, typer.Option(help="The gateway's TCP port on 127.0.0.1 (0: any free port).")] = 9212,
    duration: Annotated[
        float | None, typer.Option(help="Seconds to run live after `ready:`, then stop (default: until Ctrl-C).")
    ] = None,
    reset: Annotated[bool, typer.Option("--reset", help="Wipe an earlier demo in this database first.")] = False,
    directory: Annotated[
        Path, typer.Option("--dir", help="Where the mail and SMS sinks, logs and scenario truth go.")
    ] = Path("offsite-demo"),
    seed: Annotated[int, typer.Option(help="Seed of the province and its data.")] = 1,
    plain: Annotated[bool, typer.Option("--plain", help="Plain progress lines even on a terminal.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Run a province: gateway, worker and simulated devices over TCP; a month of data, alarms of
    every colour, the fraud cases screened, notifications delivered to local sinks; then live."""
    from offsite.demo.run import Demo, Options

    # the demo's directory is its data directory: its key, its gateway's spool, its sinks
    settings = with_database_url(database_url).model_copy(update={"data_dir": directory.resolve()})
    options = Options(
        units=units,
        port=port,
        duration=duration,
        reset=reset,
        seed=seed,
        directory=directory,
        fancy=sys.stdout.isatty() and not plain,
    )
    try:
        Demo(settings, options, sys.stdout).run()
    except DemoError as exc:
        typer.echo(f"offsite demo: {exc}", err=True)
        raise typer.Exit(2) from exc
    except KeyboardInterrupt:
        # Ctrl-C outside the event loop (while the province is built, or while stopping)
        earlier = unfinished.read(directory)
        if earlier is not None:
            typer.echo(
                f"offsite demo: interrupted while {PHASES.get(earlier.phase, earlier.phase)}; "
                "the next `offsite demo` here resets it and starts again",
                err=True,
            )
        else:
            typer.echo("offsite demo: interrupted; the demo was ready and the database keeps it", err=True)
