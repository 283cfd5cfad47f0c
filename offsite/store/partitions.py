"""Monthly partitions of the value tables on PostgreSQL, created by the platform itself.

Partitions are created ahead of time (``Settings.partition_months_ahead``) and, for backfilled
or late data, for whatever month a batch touches before it is written, so no row ever lacks a
partition. Old real-time partitions can be exported to Parquet and dropped (``retire``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime

from sqlalchemy import Connection, text

from offsite.store.models import PARTITIONED_TABLES


def month_start(moment: datetime | date) -> date:
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC).date()
    return moment.replace(day=1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def partition_name(table: str, month: date) -> str:
    return f"{table}_p{month:%Y%m}"


class Partitions:
    """Remembers which partitions exist so that a write checks only months it has not seen."""

    def __init__(self) -> None:
        self._known: set[tuple[str, date]] = set()

    def ensure(self, conn: Connection, table: str, months: Iterable[date]) -> None:
        if conn.dialect.name != "postgresql":
            return
        for month in sorted(set(months)):
            if (table, month) in self._known:
                continue
            if table not in PARTITIONED_TABLES:
                raise ValueError(f"{table} is not a partitioned table")
            name = partition_name(table, month)
            # IF NOT EXISTS is not safe against another gateway creating the same partition at
            # the same moment; a transaction-scoped advisory lock on the name serialises them.
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": name})
            conn.execute(
                text(
                    f'CREATE TABLE IF NOT EXISTS "{name}" PARTITION OF "{table}" '
                    f"FOR VALUES FROM ('{month.isoformat()}') TO ('{next_month(month).isoformat()}')"
                )
            )
            self._known.add((table, month))

    def ensure_ahead(self, conn: Connection, today: date, months_ahead: int) -> None:
        """The current month and the next ``months_ahead`` for every partitioned table."""
        months = [month_start(today)]
        for _ in range(months_ahead):
            months.append(next_month(months[-1]))
        for table in PARTITIONED_TABLES:
            self.ensure(conn, table, months)


def existing(conn: Connection, table: str) -> list[str]:
    """Names of the partitions of ``table`` (PostgreSQL), oldest first."""
    if conn.dialect.name != "postgresql":
        return []
    rows = conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :table ORDER BY c.relname"
        ),
        {"table": table},
    ).scalars()
    return list(rows)
