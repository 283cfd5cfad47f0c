"""Monthly partitions of the value tables on PostgreSQL, created by the platform itself.

Partitions are created ahead of time (``Settings.partition_months_ahead``) and, for backfilled
or late data, for whatever month a batch touches before it is written, so no row ever lacks a
partition. Old real-time partitions can be exported to Parquet and dropped (``retire``).

Creating a partition takes the parent table's owner. Where the application runs as a role of its
own (``offsite db grant``), the owner installs ``offsite_create_partition(table, month)``, a
``SECURITY DEFINER`` function that creates one month's partition of one partitioned table of the
schema and nothing else, and grants the application EXECUTE on it; partitions are then made
through it, by whichever role, and belong to the owner.
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
            if _has_function(conn):
                conn.execute(text(f"SELECT {FUNCTION}(:table, :month)"), {"table": table, "month": month})
                self._known.add((table, month))
                continue
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


FUNCTION = "offsite_create_partition"
"""Creates one month's partition as the owner (PostgreSQL, where ``offsite db grant`` installed it)."""

_FUNCTION_BODY = """
DECLARE
    parent_oid oid;
    first_day date := date_trunc('month', p_month)::date;
    part text;
BEGIN
    SELECT c.oid INTO parent_oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = {schema} AND c.relname = p_table AND c.relkind = 'p';
    IF parent_oid IS NULL THEN
        RAISE EXCEPTION '% is not a partitioned table of schema %', p_table, {schema}
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    part := p_table || '_p' || to_char(first_day, 'YYYYMM');
    PERFORM pg_advisory_xact_lock(hashtext(part));
    EXECUTE format('CREATE TABLE IF NOT EXISTS %I.%I PARTITION OF %I.%I FOR VALUES FROM (%L) TO (%L)',
                   {schema}, part, {schema}, p_table, first_day, (first_day + interval '1 month')::date);
    RETURN part;
END
"""


def allow_creation(conn: Connection, role: str) -> str:
    """Install ``offsite_create_partition`` in the current schema, owned by the connected role
    (which must own the partitioned tables), and let ``role`` execute it (PUBLIC may not).
    Returns its signature.

    ``SECURITY DEFINER`` with a fixed ``search_path``: the function runs with its owner's
    privileges, refuses any table that is not a partitioned table of the schema, and names the
    partition and its bounds itself (one calendar month, like ``Partitions.ensure``).
    """
    schema = str(conn.scalar(text("SELECT current_schema()")))
    literal = "'" + schema.replace("'", "''") + "'"
    quoted = '"' + schema.replace('"', '""') + '"'
    role_quoted = '"' + role.replace('"', '""') + '"'
    signature = f"{quoted}.{FUNCTION}(text, date)"
    conn.execute(
        text(
            f"CREATE OR REPLACE FUNCTION {quoted}.{FUNCTION}(p_table text, p_month date) RETURNS text "
            "LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $body$"
            + _FUNCTION_BODY.format(schema=literal)
            + "$body$"
        )
    )
    conn.execute(text(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC"))
    conn.execute(text(f"GRANT EXECUTE ON FUNCTION {signature} TO {role_quoted}"))
    return f"{FUNCTION}(text, date)"


def _has_function(conn: Connection) -> bool:
    # looked up each time a month is new to this process: rare, and a grant made while the
    # gateway runs is seen at once
    return bool(conn.scalar(text(f"SELECT to_regprocedure('{FUNCTION}(text, date)') IS NOT NULL")))
