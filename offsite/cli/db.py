"""``offsite db``: the schema, and the application's database role (PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from offsite.cli.options import database_engine
from offsite.db import dialect_of, make_engine, normalise_url
from offsite.db.roles import (
    VERSION_TABLE,
    PermissionRefused,
    RoleError,
    grant_application_role,
    problems,
    refusal,
    seal_append_only,
)
from offsite.db.schema import current_revision, upgrade
from offsite.settings import get_settings
from offsite.store.models import ArchiveCheckpoint, RawPacket
from offsite.store.partitions import allow_creation

app = typer.Typer(help="The database schema, and the application's database role.", no_args_is_help=True)

APPEND_ONLY = (RawPacket.__tablename__, ArchiveCheckpoint.__tablename__)
"""The archive: the application may read and append, never change, empty or drop."""

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
    """Create or migrate the schema to the newest revision (as the owner, OFFSITE_OWNER_DATABASE_URL, when set)."""
    url = owner_url(database_url)
    with refused_as_error(url):
        upgrade(url)
        engine = make_engine(url)
        try:
            with engine.begin() as conn:
                revoked = seal_append_only(conn, APPEND_ONLY)
            revision = current_revision(engine)
        finally:
            engine.dispose()
    for line in revoked:
        typer.echo(f"revoked {line} (append-only)")
    typer.echo(f"database at revision {revision}" + (f" (as {_user(url)})" if dialect_of(url) == "postgresql" else ""))


@app.command("grant")
def grant_command(
    role: Annotated[str, typer.Argument(help="The application's database role (create it first, with LOGIN).")],
    check: Annotated[
        bool, typer.Option("--check", help="Change nothing: only report what the role may do that it should not.")
    ] = False,
    database_url: OwnerUrl = None,
) -> None:
    """PostgreSQL: grant the application's role what the gateway, worker and web need, and no more.

    Run as the role that owns the schema, after `offsite db upgrade`; running it again is harmless.
    On the archive (raw_packet, archive_checkpoint) SELECT and INSERT only; on every other table
    SELECT, INSERT, UPDATE and DELETE; the schema's revision read only; USAGE and SELECT on the
    sequences; CONNECT and TEMPORARY on the database; EXECUTE on the function that creates monthly
    partitions; the same by default on what the owner creates later. Exit 1 if the role may still
    do what it should not (through PUBLIC, say), 2 if nothing could be granted.
    """
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
                found = problems(conn, role, APPEND_ONLY)
            else:
                granted = grant_application_role(conn, role, APPEND_ONLY)
                function = allow_creation(conn, role)
                found = granted.problems
                typer.echo(
                    f"granted to {role} in database {granted.database}, schema {granted.schema} "
                    f"(owner {granted.owner}):\n"
                    "  CONNECT, TEMPORARY on the database; USAGE on the schema\n"
                    f"  SELECT, INSERT on {len(granted.append_only)} append-only tables: "
                    f"{', '.join(granted.append_only)}\n"
                    f"  SELECT, INSERT, UPDATE, DELETE on {len(granted.tables)} other tables; "
                    f"SELECT on {VERSION_TABLE}\n"
                    f"  USAGE, SELECT on {len(granted.sequences)} sequences\n"
                    f"  EXECUTE on {function} (monthly partitions)\n"
                    f"  by default, the same on tables and sequences {granted.owner} creates later "
                    "(`offsite db upgrade` takes UPDATE and DELETE back from new append-only tables)"
                )
    finally:
        engine.dispose()
    for problem in found:
        typer.echo(f"warning: {problem}", err=True)
    if found:
        raise typer.Exit(1)
    if check:
        typer.echo(f"{role}: as granted")


@contextmanager
def refused_as_error(url: str) -> Iterator[None]:
    """A grant that cannot be made, or a privilege the connected role lacks: one line, exit 2."""
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
    return make_url(normalise_url(url)).username or "(the default user)"


def _shown(url: str) -> str:
    return make_url(normalise_url(url)).render_as_string(hide_password=True)
