"""Engines for the embedded SQLite default and for PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def normalise_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean psycopg 3 here."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def dialect_of(url: str) -> str:
    return make_url(normalise_url(url)).get_backend_name()


CONNECT_TIMEOUT = 10
"""Seconds a PostgreSQL connection may take to open: an address that swallows packets must not
hang a command (or the gateway) for the operating system's minutes."""


def make_engine(url: str, *, statement_timeout: float | None = None, **kwargs: Any) -> Engine:
    """An engine; SQLite gets WAL, foreign keys and a busy timeout on every connection.

    ``statement_timeout`` (seconds) bounds each statement and each wait for a lock: on
    PostgreSQL as the server's ``statement_timeout`` and ``lock_timeout``, on SQLite as the busy
    timeout. The gateway sets it, so that a hung database turns into an error it can spool on.
    """
    url = normalise_url(url)
    if dialect_of(url) == "sqlite":
        busy = 30.0 if statement_timeout is None else statement_timeout
        engine = create_engine(url, connect_args={"timeout": busy}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # keepalives and tcp_user_timeout end a connection whose peer vanished (a cut network
    # answers nothing, and the server-side timeouts below never reach us then)
    connect_args: dict[str, Any] = {
        "connect_timeout": CONNECT_TIMEOUT,
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
        "tcp_user_timeout": 60_000,
    }
    if statement_timeout is not None:
        ms = max(1, round(statement_timeout * 1000))
        connect_args["options"] = f"-c statement_timeout={ms} -c lock_timeout={ms}"
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit survives power loss, not just a crash; the archive's commit is the ack point.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
