"""Writing values: batched upserts, so a re-sent packet updates rather than duplicates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

from offsite.hj212.packet import Decoded
from offsite.store.models import PERIOD_OF_CN, IntervalValue, RealtimeValue
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
    """Upserts value rows; on PostgreSQL it first makes sure each month touched has a partition."""

    def __init__(self) -> None:
        self.partitions = Partitions()

    def interval(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        return self._upsert(
            conn, _table(IntervalValue), rows, ("device_id", "factor", "period", "ts"), _INTERVAL_COLUMNS
        )

    def realtime(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        return self._upsert(conn, _table(RealtimeValue), rows, ("device_id", "factor", "ts"), _REALTIME_COLUMNS)

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
        self.partitions.ensure(conn, table.name, {month_start(_ts(r)) for r in rows})
        dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        stmt = dialect_insert(table)
        stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_={c: stmt.excluded[c] for c in columns})
        conn.execute(stmt, list(rows))
        return len(rows)


def _table(model: type[IntervalValue] | type[RealtimeValue]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _ts(row: Mapping[str, Any]) -> datetime:
    value = row["ts"]
    if not isinstance(value, datetime):
        raise TypeError(f"ts must be a datetime, got {value!r}")
    return value
