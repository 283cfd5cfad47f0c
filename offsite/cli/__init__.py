"""The ``offsite`` command."""

from __future__ import annotations

from typing import NoReturn

import typer
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError

from offsite.cli import (
    aggregate,
    alarms,
    archive,
    clues,
    db,
    demo,
    emissions,
    feeds,
    gateway,
    hj212,
    keys,
    marks,
    notify,
    regions,
    registry,
    screen,
    simulate,
    store,
    worker,
)
from offsite.db.roles import PermissionRefused, refusal
from offsite.settings import get_settings

app = typer.Typer(
    name="offsite",
    help="Offsite: off-site supervision of pollution-source automatic monitoring (非现场监管).",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(hj212.app, name="hj212")
app.add_typer(db.app, name="db")
app.add_typer(keys.app, name="keys")
app.add_typer(regions.app, name="regions")
app.add_typer(registry.app, name="registry")
app.add_typer(archive.app, name="archive")
app.add_typer(feeds.app, name="import")
app.add_typer(store.app, name="store")
app.add_typer(gateway.gateway_app, name="gateway")
app.add_typer(gateway.devices_app, name="devices")
app.add_typer(simulate.app, name="simulate")
app.add_typer(aggregate.app, name="aggregate")
app.add_typer(notify.app, name="notify")
app.add_typer(alarms.app, name="alarms")
app.add_typer(marks.app, name="marks")
app.add_typer(clues.app, name="clues")
app.command("stats")(alarms.stats)
app.command("worker")(worker.worker)
app.command("emissions")(emissions.emissions)
app.command("screen")(screen.screen)
app.command("demo")(demo.demo)


def main() -> None:
    # the environment is read before any command runs, so that a bad OFFSITE_ setting is named in
    # one line rather than surfacing as a traceback from wherever it is first needed
    try:
        get_settings()
    except ValidationError as exc:
        for error in exc.errors():
            name = "OFFSITE_" + "_".join(str(part) for part in error["loc"]).upper()
            typer.echo(f"offsite: {name}={error.get('input')!r}: {error['msg']}", err=True)
        raise SystemExit(2) from None
    try:
        app()
    except PermissionRefused as exc:
        _refuse(str(exc))
    except DBAPIError as exc:
        # a role without the grant, or a server that does not answer: one line, not a traceback
        why = refusal(exc)
        if why is not None:
            _refuse(f"the database refused this role: {why}")
        if isinstance(exc, OperationalError) and exc.connection_invalidated is False and _unreachable(exc):
            _refuse(f"cannot reach the database: {_first_line(exc.orig)}")
        raise


def _unreachable(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return any(word in text for word in ("connection refused", "timeout expired", "could not translate host", "failed"))


def _first_line(exc: BaseException | None) -> str:
    return str(exc).strip().splitlines()[0] if exc is not None and str(exc).strip() else type(exc).__name__


def _refuse(message: str) -> NoReturn:
    typer.echo(f"offsite: {message}", err=True)
    raise SystemExit(2)
