"""Projecting archived packets into the store: values, device reports, unknown callers.

Projection runs after the archive commit that acknowledged the packets, in its own transaction,
and moves the chain's projection mark with it; a gateway that died between the two finds the
rest at start-up (``project_pending``). A packet that cannot be projected is recorded in
``projection_failure`` with the reason and skipped, so one odd packet never blocks the others.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from sqlalchemy import Connection, Engine, Row, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import InterfaceError, OperationalError

from offsite.db import table_of
from offsite.db.roles import refusal
from offsite.gateway.directory import DeviceDirectory
from offsite.gateway.models import ProjectionFailure, ProjectionMark, UnknownDevice
from offsite.hj212.decoder import DecodeOptions, decode
from offsite.hj212.errors import HJ212Error
from offsite.hj212.frame import FramingOptions
from offsite.hj212.packet import Decoded
from offsite.store.archive import Archived, Incoming
from offsite.store.models import RawPacket
from offsite.store.reports import Reports, report_rows, write_reports
from offsite.store.values import ValueWriter, interval_rows, realtime_rows

log = logging.getLogger(__name__)

REJECTED = ("unknown_mn", "bad_password")


@dataclass(frozen=True, slots=True)
class Accepted:
    """An archived packet and what the session already knew of it."""

    archived: Archived
    incoming: Incoming
    device_id: int | None
    decoded: Decoded | None


class Projector:
    def __init__(self) -> None:
        self.values = ValueWriter()

    def project(self, conn: Connection, writer: str, items: Sequence[Accepted]) -> None:
        """Store what a committed batch carries, and move the chain's mark past it."""
        intervals, realtimes, reports = [], [], Reports()
        for item in items:
            if item.incoming.outcome in REJECTED:
                _note_unknown(conn, item.incoming)
                continue
            if item.device_id is None or item.decoded is None:
                continue
            raw_id = item.archived.id
            intervals += interval_rows(item.device_id, item.decoded, raw_id)
            realtimes += realtime_rows(item.device_id, item.decoded, raw_id)
            reports.extend(report_rows(item.device_id, item.decoded, raw_id, item.incoming.received_at))
        self.values.interval(conn, intervals)
        self.values.realtime(conn, realtimes)
        write_reports(conn, reports)
        if items:
            _mark(conn, writer, max(item.archived.seq for item in items))

    def project_isolated(self, engine: Engine, writer: str, items: Sequence[Accepted]) -> bool:
        """Project a batch; if a packet fails, go packet by packet and record the ones that fail.

        Returns False, having recorded nothing, if the database went away: the chain's mark stays
        behind those packets and they are projected once it answers again.
        """
        try:
            with engine.begin() as conn:
                self.project(conn, writer, items)
            return True
        except Exception as exc:
            if is_outage(exc):
                return False
            log.exception("projecting a batch of %d packets failed; retrying one by one", len(items))
        for item in items:
            try:
                with engine.begin() as conn:
                    self.project(conn, writer, [item])
            except Exception as exc:
                if is_outage(exc):
                    return False
                log.exception("cannot project raw packet %d", item.archived.id)
                try:
                    with engine.begin() as conn:
                        _failure(conn, item.archived.id, f"{type(exc).__name__}: {exc}")
                        _mark(conn, writer, item.archived.seq)
                except Exception as again:
                    if is_outage(again):
                        return False
                    raise
        return True


def is_outage(exc: BaseException) -> bool:
    """Whether an error means the database cannot take the write (as opposed to bad data): it
    cannot be reached, or the gateway's role lacks a grant — then packets wait in the spool
    until an administrator runs ``offsite db grant``, rather than each being refused in turn."""
    if refusal(exc) is not None:
        log.error("the database refused the gateway's role: %s (run `offsite db grant`)", refusal(exc))
        return True
    return isinstance(
        exc, OperationalError | InterfaceError | sqlite3.OperationalError | psycopg.OperationalError
    ) or bool(getattr(exc, "connection_invalidated", False))


def project_pending(engine: Engine, directory: DeviceDirectory, *, framing: FramingOptions, batch: int = 1000) -> int:
    """Project every archived packet past its chain's mark (after a crash between ack and projection)."""
    projector = Projector()
    done = 0
    with engine.connect() as conn:
        chains = conn.execute(select(RawPacket.writer, func.max(RawPacket.seq)).group_by(RawPacket.writer)).all()
        marks = dict(conn.execute(select(ProjectionMark.writer, ProjectionMark.seq)).all())
    for writer, last in chains:
        after = marks.get(writer, 0)
        while after < last:
            with engine.connect() as conn:
                rows = conn.execute(
                    select(*RawPacket.__table__.c)
                    .where(RawPacket.writer == writer, RawPacket.seq > after)
                    .order_by(RawPacket.seq)
                    .limit(batch)
                ).all()
            if not rows:
                break
            items = [_replayed(row, directory, framing) for row in rows]
            if not projector.project_isolated(engine, writer, items):
                raise OperationalError("projection", {}, ConnectionError("the database went away while catching up"))
            after = rows[-1].seq
            done += len(rows)
    return done


def _replayed(row: Row[Any], directory: DeviceDirectory, framing: FramingOptions) -> Accepted:
    incoming = Incoming(
        data=row.data,
        peer=row.peer,
        received_at=row.received_at,
        outcome=row.outcome,
        error=row.error,
        mn=row.mn,
        cn=row.cn,
        qn=row.qn,
    )
    archived = Archived(row.id, row.seq, row.hash)
    device = directory.get(incoming.mn)
    decoded = None
    if incoming.outcome == "ok" and device is not None:
        try:
            decoded = decode(incoming.data, DecodeOptions(framing=framing, crc_variants=device.crc_variants))
        except HJ212Error:
            decoded = None
    return Accepted(archived, incoming, device.id if device else None, decoded)


def _note_unknown(conn: Connection, incoming: Incoming) -> None:
    mn = incoming.mn or "(none)"
    table = table_of(UnknownDevice)
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)
    conn.execute(
        insert.values(
            mn=mn,
            first_seen=incoming.received_at,
            last_seen=incoming.received_at,
            packets=1,
            last_peer=incoming.peer,
            last_reason=incoming.outcome,
        ).on_conflict_do_update(
            index_elements=["mn"],
            set_={
                "last_seen": insert.excluded.last_seen,
                "packets": table.c.packets + 1,
                "last_peer": insert.excluded.last_peer,
                "last_reason": insert.excluded.last_reason,
            },
        )
    )


def _mark(conn: Connection, writer: str, seq: int) -> None:
    table = table_of(ProjectionMark)
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)
    conn.execute(
        insert.values(writer=writer, seq=seq).on_conflict_do_update(
            index_elements=["writer"],
            set_={"seq": func.max(table.c.seq, insert.excluded.seq)}
            if conn.dialect.name == "sqlite"
            else {"seq": func.greatest(table.c.seq, insert.excluded.seq)},
        )
    )


def _failure(conn: Connection, raw_id: int, error: str) -> None:
    table = table_of(ProjectionFailure)
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)
    conn.execute(insert.values(raw_id=raw_id, at=datetime.now(UTC), error=error[:2000]).on_conflict_do_nothing())
