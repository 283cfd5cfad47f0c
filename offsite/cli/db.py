"""``offsite db``: the schema, and the database roles of the processes (PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from offsite.cli.options import database_engine
from offsite.settings import get_settings

if TYPE_CHECKING:
    from offsite.db.roles import Granted, Tables

app = typer.Typer(help="The database schema, and the database roles of the processes.", no_args_is_help=True)


def append_only() -> tuple[str, ...]:
    """The archive: only the gateway's role may append to it; no role but the owner may change, empty or drop it."""
    from offsite.store.models import ArchiveCheckpoint, RawPacket

    return (RawPacket.__tablename__, ArchiveCheckpoint.__tablename__)


def tables() -> Tables:
    """The archive's tables, and what the gateway writes outside the archive, with which privileges
    (INSERT; UPDATE for an upsert or a later change; never DELETE). It reads every table. A gateway
    change that writes another table must add it here, or the gateway's writes there are refused
    (and it spools)."""
    from offsite.db.roles import Tables
    from offsite.gateway.models import (
        ArchiveWriter,
        DeviceStatus,
        DeviceStatusChange,
        PlatformCommand,
        ProjectionFailure,
        ProjectionMark,
        UnknownDevice,
    )
    from offsite.store.models import (
        CommandResult,
        FacilityRuntime,
        FacilityState,
        InstrumentInfo,
        IntervalValue,
        LoggerRestart,
        PendingHour,
        RealtimeValue,
    )

    upsert, insert = ("INSERT", "UPDATE"), ("INSERT",)
    gateway_writes: dict[str, tuple[str, ...]] = {
        # offsite.gateway.projection → offsite.store.values: values upserted (binary COPY into a
        # temporary table, then INSERT … ON CONFLICT DO UPDATE), and the hours they touch noted
        IntervalValue.__tablename__: upsert,
        RealtimeValue.__tablename__: upsert,
        PendingHour.__tablename__: upsert,
        # offsite.gateway.projection → offsite.store.reports: what devices report about themselves
        FacilityState.__tablename__: upsert,
        FacilityRuntime.__tablename__: upsert,
        LoggerRestart.__tablename__: upsert,
        InstrumentInfo.__tablename__: insert,
        CommandResult.__tablename__: insert,
        # offsite.gateway.projection: unknown callers, how far each chain is projected, what failed
        UnknownDevice.__tablename__: upsert,
        ProjectionMark.__tablename__: upsert,
        ProjectionFailure.__tablename__: insert,
        # offsite.gateway.presence: current presence (upserted) and every change
        DeviceStatus.__tablename__: upsert,
        DeviceStatusChange.__tablename__: insert,
        # offsite.gateway.commands: requests sent to devices, and their fate
        PlatformCommand.__tablename__: upsert,
        # offsite.gateway.writers: where each archive chain's spool is
        ArchiveWriter.__tablename__: upsert,
    }
    return Tables(append_only=append_only(), gateway_writes=gateway_writes)


OwnerUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy URL of the database, as the role that owns the schema "
        "(default: OFFSITE_OWNER_DATABASE_URL, else OFFSITE_DATABASE_URL).",
        show_default=False,
    ),
]


def owner_url(database_url: str | None) -> str:
    """The URL the schema is changed with: the option, else the owner's, else the one database URL."""
    settings = get_settings()
    return database_url or settings.owner_database_url or settings.database_url


@app.command("upgrade")
def upgrade_command(database_url: OwnerUrl = None) -> None:
    """Create or migrate the schema to the newest revision (as the owner, OFFSITE_OWNER_DATABASE_URL, when set).

    On PostgreSQL it then takes back, from every role but the owner, any privilege that could
    change an append-only table, and INSERT on it from every role that may not append to the
    archive; it names the roles that may. Run `offsite db grant` again for each role afterwards.
    """
    from offsite.db import dialect_of, make_engine
    from offsite.db.roles import appenders, seal_append_only
    from offsite.db.schema import current_revision, upgrade

    archive = append_only()
    url = owner_url(database_url)
    with refused_as_error(url):
        upgrade(url)
        engine = make_engine(url)
        try:
            with engine.begin() as conn:
                revoked = seal_append_only(conn, archive)
                appending = appenders(conn, archive)
            revision = current_revision(engine)
        finally:
            engine.dispose()
    for line in revoked:
        typer.echo(f"revoked {line} (append-only)")
    typer.echo(f"database at revision {revision}" + (f" (as {_user(url)})" if dialect_of(url) == "postgresql" else ""))
    if dialect_of(url) == "postgresql":
        typer.echo(f"may append to the archive, besides the owner: {', '.join(appending) or 'no role'}")


class Purpose(StrEnum):
    """``offsite.db.roles.PURPOSES`` as choices of ``--for``."""

    gateway = "gateway"
    worker = "worker"
    web = "web"


_DEFAULT_PURPOSE = Purpose.worker
"""``offsite.db.roles.DEFAULT_PURPOSE``, written out so that ``--help`` need not load the roles
module (and SQLAlchemy); a test holds the two equal."""


@app.command("grant")
def grant_command(
    role: Annotated[str, typer.Argument(help="The process's database role (create it first, with LOGIN).")],
    purpose: Annotated[
        Purpose,
        typer.Option(
            "--for",
            help="Which process connects as ROLE. gateway: may append to the archive, writes only what the "
            "gateway writes. worker or web (the same grants): may read the archive, never append to it; "
            "writes every other table. Default: worker, the least (it cannot append to the archive).",
        ),
    ] = _DEFAULT_PURPOSE,
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="Change nothing: only report what ROLE may do beyond its purpose, or lacks for it."
        ),
    ] = False,
    database_url: OwnerUrl = None,
) -> None:
    """PostgreSQL: grant ROLE what one process needs (--for gateway, worker or web), and no more.

    Only a gateway's role may append to the archive (raw_packet, archive_checkpoint, any table with
    the append-only trigger); it writes only what the gateway writes and reads the rest. A worker or
    web role reads the archive and may not append to it (nor take its ids), and writes every other
    table. Run as the owner after `offsite db upgrade`, and again at will, for the same purpose or
    another: it converges, revoking what the purpose does not need. Exit 1 if ROLE may still do more
    than its purpose (through PUBLIC, say) or lacks what it needs, 2 if nothing could be granted.
    The grants, table by table: README, "Database roles (PostgreSQL)".
    """
    from offsite.db import dialect_of
    from offsite.db.roles import grant_role, problems, purpose_of
    from offsite.store.partitions import allow_creation

    chosen = purpose_of(purpose.value)
    url = owner_url(database_url)
    if dialect_of(url) != "postgresql":
        typer.echo(
            f"error: database roles are PostgreSQL's; {_shown(url)} is {dialect_of(url)}, which has none", err=True
        )
        raise typer.Exit(2)
    engine = database_engine(url)
    try:
        with refused_as_error(url), engine.begin() as conn:
            if check:
                found = problems(conn, role, chosen, tables())
            else:
                granted = grant_role(conn, role, chosen, tables(), partitions=allow_creation)
                found = granted.problems
                typer.echo(_report(granted))
    finally:
        engine.dispose()
    for problem in found:
        typer.echo(f"warning: {problem}", err=True)
    if found:
        raise typer.Exit(1)
    if check:
        typer.echo(f"{role}: as granted for the {chosen}")


def _report(granted: Granted) -> str:
    """What was granted, a line a kind."""
    from offsite.db.roles import VERSION_TABLE, grouped

    lines = [
        f"granted to {granted.role} for the {granted.purpose} in database {granted.database}, "
        f"schema {granted.schema} (owner {granted.owner}):",
        "  CONNECT, TEMPORARY on the database; USAGE on the schema",
    ]
    archive = [t for t in granted.append_only if t in granted.tables]
    privileges = granted.tables[archive[0]] if archive else ()
    lines.append(
        f"  {', '.join(privileges)} on {len(archive)} append-only tables: {', '.join(archive)}"
        + ("" if "INSERT" in privileges else " (no INSERT: only the gateway's role appends to the archive)")
    )
    others = {t: p for t, p in granted.tables.items() if t not in granted.append_only and t != VERSION_TABLE}
    groups = grouped(others)
    for number, (privileges, tables) in enumerate(groups.items()):
        last = number == len(groups) - 1
        named = f"{len(tables)} other tables" if last else f"{len(tables)} tables"
        listed = "" if last and len(tables) > 20 else f": {', '.join(tables)}"
        lines.append(f"  {', '.join(privileges)} on {named}{listed}")
    lines.append(f"  SELECT on {VERSION_TABLE}")
    if granted.partitions:
        lines.append(f"  on each of {granted.partitions} partitions, what its partitioned table gets")
    for privileges, sequences in grouped(granted.sequences).items():
        listed = f": {', '.join(sequences)}" if len(sequences) <= 20 else ""
        lines.append(f"  {', '.join(privileges)} on {len(sequences)} sequences{listed}")
    withheld = [s for s in granted.archive_sequences if s not in granted.sequences]
    if withheld:
        lines.append(f"  nothing on the archive's sequences ({', '.join(withheld)}): no nextval")
    lines.append(f"  EXECUTE on {granted.function} (monthly partitions)")
    defaults = ", ".join(granted.default_tables)
    if granted.default_sequences:
        defaults += f" on tables and {', '.join(granted.default_sequences)} on sequences"
    else:
        defaults += " on tables"
    lines.append(
        f"  by default, {defaults} {granted.owner} creates later (`offsite db upgrade` takes back what a role "
        "that may not append to the archive got on a new append-only table; run `offsite db grant` again after it)"
    )
    return "\n".join(lines)


@contextmanager
def refused_as_error(url: str) -> Iterator[None]:
    """A grant that cannot be made, or a privilege the connected role lacks: one line, exit 2."""
    from sqlalchemy.exc import DBAPIError

    from offsite.db.roles import PermissionRefused, RoleError, refusal

    try:
        yield
    except (RoleError, PermissionRefused) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    except DBAPIError as exc:
        message = refusal(exc)
        if message is None:
            raise
        typer.echo(
            f"error: the database refused role {_user(url)}: {message}. Changing the schema takes the role "
            "that owns it: set OFFSITE_OWNER_DATABASE_URL (or pass --database-url) to that role's URL",
            err=True,
        )
        raise typer.Exit(2) from exc


def _user(url: str) -> str:
    from sqlalchemy.engine import make_url

    from offsite.db import normalise_url

    return make_url(normalise_url(url)).username or "(the default user)"


def _shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    from offsite.db import normalise_url

    return make_url(normalise_url(url)).render_as_string(hide_password=True)
