"""The ``offsite`` command.

Sub-commands are listed from a static table and their modules imported only when one is run:
``offsite --help`` and light commands must not pay for polars, SQLAlchemy and the whole tree
(3–4 s before every command otherwise). Within a command's module the same holds: its top imports
only what the options need (Typer evaluates the signatures' annotations when the group loads,
for ``offsite GROUP --help`` too); polars, SQLAlchemy, Rich tables and the domain's models are
imported in the body of the command that uses them (tests/test_cli_startup.py checks each group).
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from typing import Any, NoReturn

import typer
import typer.core
import typer.main
from pydantic import ValidationError

from offsite.settings import get_settings


@dataclass(frozen=True, slots=True)
class Entry:
    """Where a sub-command lives and the line ``offsite --help`` shows for it."""

    module: str
    """Module under ``offsite.cli``."""
    attribute: str
    """A ``typer.Typer`` (a group of commands) or a command function."""
    help: str


COMMANDS: dict[str, Entry] = {
    "hj212": Entry("hj212", "app", "HJ 212 packets: decode a byte stream to JSON lines, encode them back."),
    "db": Entry("db", "app", "The database schema, and the database roles of the processes."),
    "keys": Entry("keys", "app", "The key that encrypts device access passwords."),
    "regions": Entry("regions", "app", "Regions (GB/T 2260 divisions)."),
    "registry": Entry("registry", "app", "The base database of key units: import, export, coverage."),
    "archive": Entry("archive", "app", "The raw-packet archive (evidence)."),
    "import": Entry("feeds", "app", "Import series fed from outside HJ 212 (CSV)."),
    "store": Entry("store", "app", "Storage upkeep: partitions and retention."),
    "gateway": Entry("gateway", "gateway_app", "The HJ 212 ingestion gateway."),
    "devices": Entry("gateway", "devices_app", "Devices as the gateway sees them."),
    "simulate": Entry("simulate", "app", "Simulate the registry's data loggers."),
    "aggregate": Entry("aggregate", "app", "Minute → hour → day, on files or on the database."),
    "notify": Entry("notify", "app", "Notifications: the outbox and its delivery."),
    "alarms": Entry("alarms", "app", "Exceedance, offline and missing-data alarms."),
    "marks": Entry("marks", "app", "Data marks (数据标记): filing and approval."),
    "clues": Entry("clues", "app", "Stored clues from the screening engine, and their review."),
    "stats": Entry("alarms", "stats", "Alarms per city and for the province: highest level reached, units alarmed."),
    "worker": Entry("worker", "worker", "Run the scheduled jobs: aggregation, grading, screening, alarms, the outbox."),
    "emissions": Entry(
        "emissions", "emissions", "Emission totals (kg) from the computed loads, beside the permit caps."
    ),
    "screen": Entry("screen", "screen", "Screen monitoring data for fraud and malfunction (rules R01–R19)."),
    "demo": Entry("demo", "demo", "Run a province: gateway, worker and simulated devices; a month of data, then live."),
}


def load_command(name: str) -> typer.core.TyperCommand | typer.core.TyperGroup:
    """The sub-command ``name`` as click runs it, its module imported now."""
    entry = COMMANDS[name]
    target = getattr(importlib.import_module(f"offsite.cli.{entry.module}"), entry.attribute)
    command: Any
    if isinstance(target, typer.Typer):
        command = typer.main.get_group(target)  # a group even with one command, as add_typer made it
    else:
        single = typer.Typer(add_completion=False)
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command  # type: ignore[no-any-return]


class LazyGroup(typer.core.TyperGroup):
    """Lists the table's names and lines; imports a sub-command's module only to run it."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        # placeholders: the names "did you mean …?" suggests from; never run
        self.commands = {name: _placeholder(name, entry) for name, entry in COMMANDS.items()}
        self._loaded: dict[str, Any] = {}
        self._listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in COMMANDS:
            return None
        if self._listing:
            return self.commands[cmd_name]
        if cmd_name not in self._loaded:
            self._loaded[cmd_name] = load_command(cmd_name)
        return self._loaded[cmd_name]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


def _placeholder(name: str, entry: Entry) -> typer.core.TyperCommand:
    return typer.core.TyperCommand(name, help=entry.help, short_help=entry.help)


app = typer.Typer(
    name="offsite",
    help="Offsite: off-site supervision of pollution-source automatic monitoring (非现场监管).",
    no_args_is_help=True,
    add_completion=False,
    cls=LazyGroup,
)


@app.callback()
def _offsite() -> None:
    # a callback makes the app a group whose commands LazyGroup supplies
    return None


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
    except Exception as exc:
        why = _explained(exc)
        if why is not None:
            _refuse(why)
        raise


def _explained(exc: Exception) -> str | None:
    """One line for a refusal or an unreachable database; None for anything else.

    SQLAlchemy and the roles module are looked at only if they were imported: an exception of
    theirs cannot have been raised otherwise, and importing them here would cost every command.
    """
    roles = sys.modules.get("offsite.db.roles")
    if roles is not None and isinstance(exc, roles.PermissionRefused):
        return str(exc)
    # a database path that is a directory or not a database, from a command that opens it
    # without `database_engine` (`db upgrade`, the demo)
    schema = sys.modules.get("offsite.db.schema")
    if schema is not None and isinstance(exc, schema.SchemaError):
        return str(exc)
    if "sqlalchemy.exc" not in sys.modules:
        return None
    from sqlalchemy.exc import DBAPIError, OperationalError

    from offsite.db.roles import refusal

    if not isinstance(exc, DBAPIError):
        return None
    # a role without the grant, or a server that does not answer: one line, not a traceback
    why = refusal(exc)
    if why is not None:
        return f"the database refused this role: {why}"
    if isinstance(exc, OperationalError) and exc.connection_invalidated is False and _unreachable(exc):
        return f"cannot reach the database: {_first_line(exc.orig)}"
    return None


def _unreachable(exc: Any) -> bool:
    text = str(exc.orig).lower()
    return any(word in text for word in ("connection refused", "timeout expired", "could not translate host", "failed"))


def _first_line(exc: BaseException | None) -> str:
    return str(exc).strip().splitlines()[0] if exc is not None and str(exc).strip() else type(exc).__name__


def _refuse(message: str) -> NoReturn:
    typer.echo(f"offsite: {message}", err=True)
    raise SystemExit(2)
