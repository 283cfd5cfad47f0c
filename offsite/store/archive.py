"""The raw-packet archive: append-only, hash-chained per writer, checkpointed, verifiable.

Each gateway process appends to its own chain (``Settings.archive_writer``), so writers never
wait on each other. A record's hash covers the previous record's hash and every field, so any
change, deletion or reordering inside a chain breaks it at that record; publishing the heads
(``offsite archive heads``) outside the platform also exposes a chain rewritten from scratch.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, func, insert, select, tuple_

from offsite.store.models import ArchiveCheckpoint, RawPacket

GENESIS = bytes(32)
"""prev_hash of a chain's first record."""


@dataclass(frozen=True, slots=True)
class Incoming:
    """One packet as received, before it is archived."""

    data: bytes
    peer: str
    received_at: datetime
    outcome: str = "ok"
    error: str | None = None
    mn: str | None = None
    cn: str | None = None
    qn: str | None = None


HEADER_FIELD_MAX = 64
"""Longest MN, CN or QN stored as a column; the packet's bytes keep the whole value."""

_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\\]")


def bounded(packet: Incoming) -> Incoming:
    """The packet with header fields any database stores: control characters escaped, each cut to
    ``HEADER_FIELD_MAX`` characters, a cut noted in ``error``. A device chooses these values, and
    one it could make fail the write would stop the archive."""
    notes = []
    fields: dict[str, Any] = {}
    for name in ("mn", "cn", "qn"):
        value = getattr(packet, name)
        if value is None:
            continue
        text = _escaped(value)
        if len(text) > HEADER_FIELD_MAX:
            notes.append(f"{name.upper()} of {len(text)} characters cut to {HEADER_FIELD_MAX}")
            text = text[:HEADER_FIELD_MAX]
        if text != value:
            fields[name] = text
    peer = _escaped(packet.peer)[:HEADER_FIELD_MAX]
    error = None if packet.error is None else _escaped(packet.error)
    if notes:
        error = "; ".join([*([error] if error else []), *notes])
    if not fields and peer == packet.peer and error == packet.error:
        return packet
    return replace(packet, peer=peer, error=error, **fields)


def _escaped(text: str) -> str:
    if _UNPRINTABLE.search(text) is None and text.isprintable():
        return text
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char.isprintable():
            out.append(char)
        else:
            out.append(char.encode("unicode_escape").decode("ascii"))
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Archived:
    id: int
    seq: int
    hash: bytes


def record_hash(prev_hash: bytes, writer: str, seq: int, packet: Incoming) -> bytes:
    """SHA-256 over the previous hash and every field, each length-prefixed (no field can bleed into another)."""
    digest = hashlib.sha256(prev_hash)
    for part in (
        writer.encode(),
        str(seq).encode(),
        packet.received_at.isoformat().encode(),
        packet.peer.encode(),
        (packet.mn or "").encode(),
        (packet.cn or "").encode(),
        (packet.qn or "").encode(),
        packet.outcome.encode(),
        (packet.error or "").encode(),
        packet.data,
    ):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.digest()


class ArchiveWriter:
    """Appends batches to one writer's chain. Not shared between processes: one name, one writer."""

    def __init__(self, engine: Engine, writer: str, *, checkpoint_every: int = 1000) -> None:
        self.engine = engine
        self.writer = writer
        self.checkpoint_every = checkpoint_every
        with engine.connect() as conn:
            last = conn.execute(
                select(RawPacket.seq, RawPacket.hash)
                .where(RawPacket.writer == writer)
                .order_by(RawPacket.seq.desc())
                .limit(1)
            ).first()
        self._seq: int = last.seq if last else 0
        self._hash: bytes = last.hash if last else GENESIS

    @property
    def head(self) -> tuple[int, bytes]:
        return self._seq, self._hash

    def append(
        self,
        packets: Sequence[Incoming],
        also: Callable[[Connection, list[Archived]], None] | None = None,
    ) -> list[Archived]:
        """Archive a batch in one transaction; when this returns, the batch is durable (the ack point).

        ``also`` runs inside the same transaction (e.g. to project values), so both commit or
        neither does; the chain head moves only once the commit has succeeded.
        """
        if not packets:
            return []
        with self.engine.begin() as conn:
            archived = self._insert(conn, packets)
            if also is not None:
                also(conn, archived)
        self._seq, self._hash = archived[-1].seq, archived[-1].hash
        return archived

    def _insert(self, conn: Connection, packets: Sequence[Incoming]) -> list[Archived]:
        seq, prev = self._seq, self._hash
        rows = []
        chained: list[tuple[int, bytes]] = []
        for packet in map(bounded, packets):
            if packet.received_at.tzinfo is None:
                raise ValueError(f"naive datetime {packet.received_at!r}: every stored time must carry its zone")
            seq += 1
            digest = record_hash(prev, self.writer, seq, packet)
            rows.append(
                {
                    "writer": self.writer,
                    "seq": seq,
                    "received_at": packet.received_at,
                    "peer": packet.peer,
                    "mn": packet.mn,
                    "cn": packet.cn,
                    "qn": packet.qn,
                    "outcome": packet.outcome,
                    "error": packet.error,
                    "data": packet.data,
                    "prev_hash": prev,
                    "hash": digest,
                }
            )
            chained.append((seq, digest))
            prev = digest
        if conn.dialect.name == "postgresql":
            ids = _copy_rows(conn, rows)
        else:
            ids = list(
                conn.execute(insert(RawPacket).returning(RawPacket.id, sort_by_parameter_order=True), rows).scalars()
            )
        if seq // self.checkpoint_every > self._seq // self.checkpoint_every:
            conn.execute(
                insert(ArchiveCheckpoint).values(
                    writer=self.writer, seq=seq, hash=prev, created_at=packets[-1].received_at
                )
            )
        return [Archived(id_, seq_, hash_) for id_, (seq_, hash_) in zip(ids, chained, strict=True)]


_COPY_COLUMNS = (
    "id",
    "writer",
    "seq",
    "received_at",
    "peer",
    "mn",
    "cn",
    "qn",
    "outcome",
    "error",
    "data",
    "prev_hash",
    "hash",
)
_COPY_TYPES = (
    "int8",
    "text",
    "int8",
    "timestamptz",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "bytea",
    "bytea",
    "bytea",
)


def _copy_rows(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """PostgreSQL: ids from the sequence in one query, then one binary COPY (several times faster
    than a many-row INSERT … RETURNING at the gateway's batch sizes)."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence('raw_packet', 'id')) FROM generate_series(1, %s)", (len(rows),)
        )
        ids = [int(r[0]) for r in cursor.fetchall()]
        with cursor.copy(f"COPY raw_packet ({', '.join(_COPY_COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(list(_COPY_TYPES))
            for id_, row in zip(ids, rows, strict=True):
                copy.write_row([id_, *(row[c] for c in _COPY_COLUMNS[1:])])
    finally:
        cursor.close()
    return ids


@dataclass(frozen=True, slots=True)
class Head:
    writer: str
    seq: int
    hash: str
    received_at: datetime


def heads(engine: Engine) -> list[Head]:
    """The last record of every chain."""
    with engine.connect() as conn:
        last = select(RawPacket.writer, func.max(RawPacket.seq).label("seq")).group_by(RawPacket.writer).subquery()
        rows = conn.execute(
            select(RawPacket.writer, RawPacket.seq, RawPacket.hash, RawPacket.received_at)
            .join(last, (RawPacket.writer == last.c.writer) & (RawPacket.seq == last.c.seq))
            .order_by(RawPacket.writer)
        ).all()
    return [Head(r.writer, r.seq, r.hash.hex(), r.received_at) for r in rows]


@dataclass(frozen=True, slots=True)
class Problem:
    writer: str
    seq: int
    id: int | None
    reason: str

    def __str__(self) -> str:
        where = f"record id {self.id}" if self.id is not None else "no record"
        return f"chain {self.writer}, seq {self.seq} ({where}): {self.reason}"


@dataclass(frozen=True, slots=True)
class Verification:
    records: int
    chains: int
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(engine: Engine, published: Sequence[Head] = (), *, batch: int = 5000) -> Verification:
    """Walk every chain; report the first bad record of each, and any published head that no longer holds."""
    problems: list[Problem] = []
    total = 0
    with engine.connect() as conn:
        writers = conn.scalars(select(RawPacket.writer).distinct().order_by(RawPacket.writer)).all()
        checkpoints = {(c.writer, c.seq): c.hash for c in conn.execute(select(ArchiveCheckpoint)).all()}
        hashes_at: dict[tuple[str, int], bytes] = {}
        wanted = {(h.writer, h.seq) for h in published} | set(checkpoints)
        for writer in writers:
            expected_seq, prev = 1, GENESIS
            for row in _chain(conn, writer, batch):
                total += 1
                packet = _incoming(row)
                if row.seq != expected_seq:
                    problems.append(Problem(writer, expected_seq, None, f"missing: the next record is seq {row.seq}"))
                    break
                if row.prev_hash != prev:
                    problems.append(
                        Problem(
                            writer,
                            row.seq,
                            row.id,
                            "does not follow the previous record (reordered or a record removed)",
                        )
                    )
                    break
                if record_hash(prev, writer, row.seq, packet) != row.hash:
                    problems.append(Problem(writer, row.seq, row.id, "content changed: its hash does not match"))
                    break
                if (writer, row.seq) in wanted:
                    hashes_at[(writer, row.seq)] = row.hash
                prev = row.hash
                expected_seq += 1
        for (writer, seq), digest in checkpoints.items():
            if (writer, seq) in hashes_at and hashes_at[(writer, seq)] != digest:
                problems.append(Problem(writer, seq, None, "differs from the checkpoint taken at that seq"))
        for head in published:
            stored = hashes_at.get((head.writer, head.seq))
            if stored is None:
                problems.append(Problem(head.writer, head.seq, None, "a published head is no longer in the chain"))
            elif stored.hex() != head.hash:
                problems.append(
                    Problem(head.writer, head.seq, None, "the chain was rewritten: it differs from a published head")
                )
    return Verification(total, len(writers), problems)


@dataclass(frozen=True, slots=True)
class Shown:
    """One archived record, checked on its own (``verify`` walks whole chains)."""

    id: int
    writer: str
    seq: int
    received_at: datetime
    peer: str
    mn: str | None
    cn: str | None
    qn: str | None
    outcome: str
    error: str | None
    data: bytes
    hash: str
    intact: bool
    """Its hash, computed again over its content and the hash it follows, is the stored one."""
    linked: bool
    """The record before it in its chain holds the hash it follows (or it is the first, after
    the genesis hash)."""


class UnknownRecords(LookupError):
    def __init__(self, ids: Sequence[int]) -> None:
        super().__init__(f"no archived packet with id {', '.join(map(str, ids))}")
        self.ids = list(ids)


def records(engine: Engine, ids: Sequence[int]) -> list[Shown]:
    """The records with these ids, in the order given, each checked for its content and its
    link to the record before it. Raises ``UnknownRecords`` naming any id not in the archive."""
    table = RawPacket.__table__
    with engine.connect() as conn:
        rows = {row.id: row for row in conn.execute(select(*table.c).where(table.c.id.in_(list(ids)))).all()}
        missing = [i for i in ids if i not in rows]
        if missing:
            raise UnknownRecords(missing)
        before = {
            (row.writer, row.seq): row.hash
            for row in conn.execute(
                select(table.c.writer, table.c.seq, table.c.hash).where(
                    tuple_(table.c.writer, table.c.seq).in_([(r.writer, r.seq - 1) for r in rows.values()])
                )
            ).all()
        }
    return [_shown(rows[i], before) for i in ids]


def _shown(row: Row[Any], before: dict[tuple[str, int], bytes]) -> Shown:
    packet = _incoming(row)
    previous = GENESIS if row.seq == 1 else before.get((row.writer, row.seq - 1))
    return Shown(
        id=row.id,
        writer=row.writer,
        seq=row.seq,
        received_at=row.received_at,
        peer=str(row.peer),
        mn=row.mn,
        cn=row.cn,
        qn=row.qn,
        outcome=str(row.outcome),
        error=row.error,
        data=packet.data,
        hash=bytes(row.hash).hex(),
        intact=record_hash(bytes(row.prev_hash), row.writer, row.seq, packet) == bytes(row.hash),
        linked=previous is not None and bytes(previous) == bytes(row.prev_hash),
    )


def _incoming(row: Row[Any]) -> Incoming:
    """A stored record as the packet its hash was computed over."""
    return Incoming(
        data=_as_bytes(row.data),
        peer=str(row.peer),
        received_at=row.received_at,
        outcome=str(row.outcome),
        error=row.error,
        mn=row.mn,
        cn=row.cn,
        qn=row.qn,
    )


def _as_bytes(value: object) -> bytes:
    """The stored bytes; a tampered column may come back as another type, which then fails its hash."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode("utf-8", errors="surrogateescape")


def _chain(conn: Connection, writer: str, batch: int) -> Iterator[Row[Any]]:
    table = RawPacket.__table__
    after = 0
    while True:
        rows = conn.execute(
            select(*table.c).where(table.c.writer == writer, table.c.seq > after).order_by(table.c.seq).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        after = rows[-1].seq
