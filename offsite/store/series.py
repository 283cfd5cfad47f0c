"""Reading a device's or an outlet's series as a Polars DataFrame.

The screening engine reads a month of minute data per outlet at a time. On PostgreSQL the query
runs on an ADBC connection (one per thread and database, reused) and lands in Arrow; on SQLite it
runs on the engine's own driver (see ``_sqlite_frame`` for why not ADBC).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from offsite.db.base import to_micros
from offsite.store.models import MINUTE

ALL_COLUMNS = ("device_id", "factor", "ts", "min", "avg", "max", "cou", "zs_min", "zs_avg", "zs_max", "flag", "raw_id")
DEFAULT_COLUMNS = ("device_id", "factor", "ts", "avg", "flag")
"""What screening reads by default; ask for min/max/cou/zs_* by name (each costs transfer time)."""
FETCH_ROWS = 100_000
"""Rows taken from SQLite at a time."""

_TEXT = {"factor", "flag", "eflag"}
_local = threading.local()
_opened: list[Any] = []
_opened_lock = threading.Lock()


def read_interval(
    engine: Engine,
    device_ids: Sequence[int],
    start: datetime,
    end: datetime,
    *,
    period: int = MINUTE,
    factors: Sequence[str] | None = None,
    columns: Sequence[str] = DEFAULT_COLUMNS,
) -> pl.DataFrame:
    """Interval values with ``start <= ts < end``, sorted by device, factor and time; ``ts`` in UTC."""
    unknown = set(columns) - set(ALL_COLUMNS)
    if unknown:
        raise ValueError(f"unknown columns {sorted(unknown)}; choose from {ALL_COLUMNS}")
    wanted = tuple(dict.fromkeys(("device_id", "factor", "ts", *columns)))
    return _select(engine, "interval_value", wanted, device_ids, start=start, end=end, period=period, factors=factors)


COMPUTED_COLUMNS = (
    "device_id",
    "factor",
    "ts",
    "value",
    "corrected",
    "standard",
    "load",
    "bound",
    "bound_corrected",
    "valid",
    "n_valid",
    "n_expected",
)


def read_computed(
    engine: Engine, device_ids: Sequence[int], start: datetime, end: datetime, *, period: int
) -> pl.DataFrame:
    """The platform's computed hour or day values (``computed_value``) with ``start <= ts < end``."""
    frame = _select(
        engine, "computed_value", COMPUTED_COLUMNS, device_ids, start=start, end=end, period=period, factors=None
    )
    # SQLite columns that hold only NULLs come back untyped
    return frame.with_columns(
        pl.col("valid").cast(pl.Boolean),
        pl.col("n_valid", "n_expected").cast(pl.Int64),
        pl.col("value", "corrected", "standard", "load", "bound", "bound_corrected").cast(pl.Float64),
    )


def _select(
    engine: Engine,
    table: str,
    wanted: Sequence[str],
    device_ids: Sequence[int],
    *,
    start: datetime,
    end: datetime,
    period: int,
    factors: Sequence[str] | None,
) -> pl.DataFrame:
    if not device_ids:
        return _empty(wanted)
    dialect = engine.dialect.name
    ids = ", ".join(str(int(i)) for i in device_ids)
    where = [f"device_id IN ({ids})", f"period = {int(period)}"]
    if dialect == "sqlite":
        where.append(f"ts >= {to_micros(start)} AND ts < {to_micros(end)}")
    else:
        where.append(f"ts >= '{start.isoformat()}' AND ts < '{end.isoformat()}'")
    if factors:
        quoted = ", ".join("'" + f.replace("'", "''") + "'" for f in factors)
        where.append(f"factor IN ({quoted})")
    query = f"SELECT {', '.join(wanted)} FROM {table} WHERE {' AND '.join(where)} ORDER BY device_id, factor, ts"
    return select_frame(engine, query, wanted)


def select_frame(engine: Engine, query: str, columns: Sequence[str]) -> pl.DataFrame:
    """The rows of ``query`` (which selects ``columns``, ``ts`` among them) as a DataFrame, ``ts`` in UTC."""
    if engine.dialect.name == "sqlite":
        return _sqlite_frame(engine, query, columns)
    cursor = _connection(engine).cursor()
    try:
        cursor.execute(query)
        frame = pl.from_arrow(cursor.fetch_arrow_table())
    finally:
        cursor.close()
    assert isinstance(frame, pl.DataFrame)
    if frame.is_empty():
        return _empty(columns)
    frame = frame.with_columns(pl.col("ts").dt.convert_time_zone("UTC"))
    return frame.with_columns(pl.col("device_id").cast(pl.Int64))


def _sqlite_frame(engine: Engine, query: str, wanted: Sequence[str]) -> pl.DataFrame:
    """SQLite is read through the engine's own driver, never ADBC: the ADBC driver carries a second
    copy of SQLite, and two copies in one process on one WAL file break each other's POSIX locks
    and unmap each other's shared memory (sqlite.org/howtocorrupt.html §2.2; seen here as SIGBUS)."""
    schema = _empty(wanted).schema
    loading = {name: pl.Int64 if name in {"ts", "valid"} else dtype for name, dtype in schema.items()}
    parts = [pl.DataFrame(schema=loading)]
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(query)
        # chunks of rows, each built by Polars from the tuples (in Rust): half the time of
        # transposing them in Python, and never all the rows as Python objects at once
        while rows := cursor.fetchmany(FETCH_ROWS):
            parts.append(pl.DataFrame(rows, schema=loading, orient="row", strict=False))
        cursor.close()
    finally:
        raw.close()
    frame = pl.concat(parts, rechunk=True)
    return (
        frame.with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")), pl.col("valid").cast(pl.Boolean))
        if "valid" in schema
        else frame.with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))
    )


def _connection(engine: Engine) -> Any:
    """This thread's ADBC connection to the engine's PostgreSQL database (ADBC connections are not
    thread-safe)."""
    cache: dict[str, Any] = _local.__dict__.setdefault("connections", {})
    uri = make_url(engine.url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = cache.get(uri)
    if conn is None:
        # imported on first use: a SQLite-only installation never loads it
        driver = importlib.import_module("adbc_driver_postgresql.dbapi")
        # autocommit: a read must not hold a transaction (and its locks) open between calls
        conn = cache[uri] = driver.connect(uri, autocommit=True)
        with _opened_lock:
            _opened.append(conn)
    return conn


def close_connections() -> None:
    """Close every cached ADBC connection (at exit, or before a database is dropped)."""
    with _opened_lock:
        connections, _opened[:] = list(_opened), []
    for conn in connections:
        # A connection whose server or file is already gone cannot be closed either; that is fine.
        with contextlib.suppress(Exception):
            conn.close()
    _local.__dict__.pop("connections", None)


atexit.register(close_connections)


def _empty(columns: Sequence[str]) -> pl.DataFrame:
    def dtype(column: str) -> Any:
        if column in {"device_id", "raw_id"}:
            return pl.Int64
        if column == "ts":
            return pl.Datetime("us", "UTC")
        if column == "valid":
            return pl.Boolean
        if column == "n_valid":
            return pl.Int64
        return pl.String if column in _TEXT else pl.Float64

    return pl.DataFrame(schema={c: dtype(c) for c in columns})
