"""Writing values: batched upserts, so a re-sent packet updates rather than duplicates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Table, or_
from sqlalchemy.dialects import postgresql, sqlite

from offsite.db import table_of
from offsite.hj212.packet import Decoded
from offsite.store.models import MINUTE, PERIOD_OF_CN, ComputedValue, IntervalValue, PendingHour, RealtimeValue
from offsite.store.partitions import Partitions, month_start

INTERVAL_FIELDS = {
    "Min": "min",
    "Avg": "avg",
    "Max": "max",
    "Cou": "cou",
    "ZsMin": "zs_min",
    "ZsAvg": "zs_avg",
    "ZsMax": "zs_max",
}
REALTIME_FIELDS = {"Rtd": "rtd", "ZsRtd": "zs_rtd"}
_INTERVAL_COLUMNS = (*INTERVAL_FIELDS.values(), "flag", "raw_id")
_REALTIME_COLUMNS = (*REALTIME_FIELDS.values(), "flag", "eflag", "raw_id")
_COMPUTED_COLUMNS = (
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

Row = dict[str, Any]


def interval_rows(device_id: int, decoded: Decoded, raw_id: int | None) -> list[Row]:
    """Rows of ``interval_value`` from a decoded 2051/2061/2031 packet (DataTime = interval start)."""
    period = PERIOD_OF_CN.get(decoded.packet.cn)
    if period is None or decoded.data_time is None:
        return []
    rows = []
    for code, factor in decoded.factors.items():
        row: Row = {"device_id": device_id, "factor": code, "period": period, "ts": decoded.data_time}
        for suffix, column in INTERVAL_FIELDS.items():
            row[column] = factor.numbers.get(suffix)
        row["flag"] = factor.fields.get("Flag")
        row["raw_id"] = raw_id
        rows.append(row)
    return rows


def realtime_rows(device_id: int, decoded: Decoded, raw_id: int | None) -> list[Row]:
    """Rows of ``realtime_value`` from a decoded 2011 packet."""
    if decoded.packet.cn != "2011" or decoded.data_time is None:
        return []
    rows = []
    for code, factor in decoded.factors.items():
        row: Row = {"device_id": device_id, "factor": code, "ts": decoded.data_time}
        for suffix, column in REALTIME_FIELDS.items():
            row[column] = factor.numbers.get(suffix)
        row["flag"] = factor.fields.get("Flag")
        row["eflag"] = factor.fields.get("EFlag")
        row["raw_id"] = raw_id
        rows.append(row)
    return rows


class ValueWriter:
    """Upserts value rows; on PostgreSQL it first makes sure each month touched has a partition.

    A row is rewritten only when one of its values differs: an identical resend (the common case)
    writes nothing and the row keeps pointing to the packet it first came from.
    """

    def __init__(self) -> None:
        self.partitions = Partitions()

    def interval(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        written = self._upsert(
            conn, table_of(IntervalValue), rows, ("device_id", "factor", "period", "ts"), _INTERVAL_COLUMNS
        )
        mark_pending(conn, rows)
        return written

    def computed(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        return self._upsert(
            conn, table_of(ComputedValue), rows, ("device_id", "period", "factor", "ts"), _COMPUTED_COLUMNS
        )

    def realtime(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        return self._upsert(conn, table_of(RealtimeValue), rows, ("device_id", "factor", "ts"), _REALTIME_COLUMNS)

    def _upsert(
        self,
        conn: Connection,
        table: Table,
        rows: Sequence[Mapping[str, Any]],
        keys: tuple[str, ...],
        columns: tuple[str, ...],
    ) -> int:
        if not rows:
            return 0
        # A batch may hold the same key twice (a packet resent within it): the last one wins.
        key_of = itemgetter(*keys)
        unique = rows if len(set(map(key_of, rows))) == len(rows) else list({key_of(r): r for r in rows}.values())
        self.partitions.ensure(conn, table.name, {month_start(_ts(r)) for r in unique})
        if conn.dialect.name == "postgresql":
            _copy_upsert(conn, table, unique, keys, columns)
        else:
            stmt = sqlite.insert(table)
            compared = [c for c in columns if c != "raw_id"]
            stmt = stmt.on_conflict_do_update(
                index_elements=list(keys),
                set_={c: stmt.excluded[c] for c in columns},
                where=or_(*(table.c[c].is_distinct_from(stmt.excluded[c]) for c in compared)),
            )
            conn.execute(stmt, unique)
        return len(unique)


def mark_pending(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Note the hours whose minutes these rows write, in the same transaction, so that the
    aggregation recomputes them however late they come."""
    hours = {(r["device_id"], _ts(r).replace(minute=0, second=0, microsecond=0)) for r in rows if r["period"] == MINUTE}
    if not hours:
        return
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(table_of(PendingHour))
    stmt = stmt.on_conflict_do_update(index_elements=["device_id", "hour"], set_={"noted_at": stmt.excluded.noted_at})
    now = datetime.now(UTC)
    conn.execute(stmt, [{"device_id": d, "hour": h, "noted_at": now} for d, h in sorted(hours)])


_COPY_TYPES = {
    "INTEGER": "int4",
    "SMALLINT": "int2",
    "BIGINT": "int8",
    "FLOAT": "float8",
    "DOUBLE PRECISION": "float8",
    "BOOLEAN": "bool",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
}


def _copy_upsert(
    conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], keys: tuple[str, ...], columns: tuple[str, ...]
) -> None:
    """PostgreSQL: binary COPY into a session-local staging table, then one INSERT … ON CONFLICT.

    Several times faster than row-by-row upserts (benchmarks/store_write.py); the staging table
    is created once per connection and emptied after each use.
    """
    names, types = _copy_columns(table, conn)
    stage = f"stage_{table.name}"
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(f'CREATE TEMP TABLE IF NOT EXISTS "{stage}" (LIKE "{table.name}") ON COMMIT DELETE ROWS')
        with cursor.copy(f'COPY "{stage}" ({", ".join(names)}) FROM STDIN (FORMAT BINARY)') as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row([row.get(name) for name in names])
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns)
        compared = [c for c in columns if c != "raw_id"]
        current = ", ".join(f'"{table.name}".{c}' for c in compared)
        incoming = ", ".join(f"EXCLUDED.{c}" for c in compared)
        cursor.execute(
            f'INSERT INTO "{table.name}" ({", ".join(names)}) SELECT {", ".join(names)} FROM "{stage}" '
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates} "
            f"WHERE ({current}) IS DISTINCT FROM ({incoming})"
        )
        cursor.execute(f'DELETE FROM "{stage}"')
    finally:
        cursor.close()


_COPY_COLUMNS: dict[str, tuple[list[str], list[str]]] = {}


def _copy_columns(table: Table, conn: Connection) -> tuple[list[str], list[str]]:
    cached = _COPY_COLUMNS.get(table.name)
    if cached is None:
        names = [c.name for c in table.columns]
        types = [_copy_type(c.type.compile(dialect=conn.dialect)) for c in table.columns]
        cached = _COPY_COLUMNS[table.name] = (names, types)
    return cached


def _copy_type(sql_type: str) -> str:
    if sql_type.startswith("VARCHAR") or sql_type == "TEXT":
        return "text"
    try:
        return _COPY_TYPES[sql_type]
    except KeyError:
        raise TypeError(f"no binary COPY type for column type {sql_type}") from None


def _ts(row: Mapping[str, Any]) -> datetime:
    value = row["ts"]
    if not isinstance(value, datetime):
        raise TypeError(f"ts must be a datetime, got {value!r}")
    return value
