"""The raw-packet archive: append-only, hash-chained per writer, checkpointed, signed, verifiable.

Each gateway appends to its own chain (``Settings.archive_writer``, stable across restarts), so
writers never wait on each other. A record's hash covers the previous record's hash and its
content, so any change, deletion or reordering inside a chain breaks it at that record. Records
of format 2 also hash their row id, since values and clues cite records by id. Every
``checkpoint_every`` records a checkpoint keeps the chain's head and a Merkle root over the
records since the last one, signed with the deployment's Ed25519 key (``offsite.store.signing``),
which is not in the database: its owner can recompute every hash, but cannot sign. Signed heads
published outside the platform (``offsite archive heads``) pin the newest records too.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, func, insert, select, tuple_

from offsite.db.base import to_micros
from offsite.store import merkle
from offsite.store.headstate import HeadState
from offsite.store.models import ArchiveCheckpoint, RawPacket
from offsite.store.signing import Signer, verifies

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


FORMAT = 2
"""The record format new records are written in."""


def record_hash(prev_hash: bytes, writer: str, seq: int, packet: Incoming) -> bytes:
    """Format 1: SHA-256 over the previous hash and every field, each length-prefixed (no field
    can bleed into another). The row id is not covered: records written so keep verifying."""
    return _fields_digest(hashlib.sha256(prev_hash), writer, str(seq), packet)


def content_hash(writer: str, packet: Incoming) -> bytes:
    """Format 2: SHA-256 over the record's fields (its chain, time, peer, header, outcome, bytes),
    each framed by ``framed`` (an absent MN, CN, QN or error is not an empty one) and the time as
    microseconds since the epoch (the instant, not the zone it was written in)."""
    digest = hashlib.sha256(b"offsite-archive-record-v2")
    for part in (
        writer,
        to_micros(packet.received_at),
        packet.peer,
        packet.mn,
        packet.cn,
        packet.qn,
        packet.outcome,
        packet.error,
        packet.data,
    ):
        digest.update(_frame(part))
    return digest.digest()


def record_hash_v2(prev_hash: bytes, record_id: int, seq: int, content: bytes) -> bytes:
    """Format 2: H(prev ‖ id ‖ seq ‖ H(content)); moving a record to another id breaks it."""
    return hashlib.sha256(prev_hash + record_id.to_bytes(8, "big") + seq.to_bytes(8, "big") + content).digest()


def stored_hash_again(row: Row[Any], prev_hash: bytes) -> bytes:
    """A stored record's hash computed again from its columns, under its own format, after ``prev_hash``."""
    packet = stored_packet(row)
    if row.version == 1:
        return record_hash(prev_hash, row.writer, row.seq, packet)
    return record_hash_v2(prev_hash, row.id, row.seq, content_hash(row.writer, packet))


def checkpoint_message(
    writer: str, first_seq: int, seq: int, head: bytes, merkle_root: bytes, *, created_at: datetime
) -> bytes:
    """What a checkpoint's signature covers: every column of it but the signature and the key's
    fingerprint, each part framed."""
    return framed("offsite-checkpoint-v2", writer, first_seq, seq, head, merkle_root, to_micros(created_at))


def framed(*parts: bytes | str | int | None) -> bytes:
    """The parts one after another, each framed so that none can bleed into the next: ``None`` as
    one zero byte, anything else as a one byte, its length (8 bytes) and its bytes (text as UTF-8,
    a number in decimal)."""
    return b"".join(_frame(part) for part in parts)


def _frame(part: bytes | str | int | None) -> bytes:
    if part is None:
        return b"\x00"
    if isinstance(part, int):
        part = str(part)
    data = part.encode("utf-8", errors="surrogatepass") if isinstance(part, str) else part
    return b"\x01" + len(data).to_bytes(8, "big") + data


def _fields_digest(digest: Any, writer: str, seq: str, packet: Incoming) -> bytes:
    """Format 1's digest, kept exactly as it was (an absent field hashes as an empty one)."""
    for part in (
        writer.encode(),
        *([seq.encode()] if seq else []),
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
    return bytes(digest.digest())


class ArchiveWriter:
    """Appends batches to one writer's chain. Not shared between processes: one name, one writer."""

    def __init__(
        self,
        engine: Engine,
        writer: str,
        *,
        checkpoint_every: int = 1000,
        signer: Signer | None = None,
        state: HeadState | None = None,
        checkpoint_seconds: float | None = None,
    ) -> None:
        """``state``: the writer's own record of its head; with it, a database head this writer
        did not leave raises ``ForeignRecords`` instead of being chained on and signed."""
        self.engine = engine
        self.writer = writer
        self.checkpoint_every = checkpoint_every
        self.signer = signer
        self.state = state
        self.checkpoint_seconds = checkpoint_seconds
        """A checkpoint is also taken at the first append this long after the last one, so a quiet
        chain's newest records are signed (and published) within it too."""
        self._checkpoint_time = time.monotonic()
        with engine.connect() as conn:
            last = conn.execute(
                select(RawPacket.seq, RawPacket.hash)
                .where(RawPacket.writer == writer)
                .order_by(RawPacket.seq.desc())
                .limit(1)
            ).first()
            head_seq = last.seq if last else 0
            # the newest checkpoint this writer can stand behind: at or below the head, and signed
            # by its key or (one of an earlier key) with a Merkle root that holds over the stored
            # records: a row anyone inserted must not become the next range's start
            self._checkpointed: int = 0
            candidates = conn.execute(
                select(*ArchiveCheckpoint.__table__.c)
                .where(ArchiveCheckpoint.writer == writer, ArchiveCheckpoint.seq <= head_seq)
                .order_by(ArchiveCheckpoint.seq.desc())
            )
            for row in candidates.all():
                if signer is None or signed_by(row, signer) or _tree_holds(conn, row):
                    self._checkpointed = row.seq
                    break
            # the hashes since the last checkpoint, for the next one's Merkle root (at most checkpoint_every)
            self._since: list[bytes] = [
                bytes(h)
                for h in conn.scalars(
                    select(RawPacket.hash)
                    .where(RawPacket.writer == writer, RawPacket.seq > self._checkpointed)
                    .order_by(RawPacket.seq)
                )
            ]
        self._seq: int = last.seq if last else 0
        self._hash: bytes = bytes(last.hash) if last else GENESIS
        if state is not None:
            state.check(writer, self._seq, self._hash)

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
            archived, checkpoint = self._insert(conn, packets)
            if also is not None:
                also(conn, archived)
            if self.state is not None:  # before the commit: a crash after it still finds its head known
                self.state.intend((self._seq, self._hash), (archived[-1].seq, archived[-1].hash))
        self._seq, self._hash = archived[-1].seq, archived[-1].hash
        if checkpoint:
            self._checkpointed, self._since = self._seq, []
            self._checkpoint_time = time.monotonic()
        else:
            self._since += [a.hash for a in archived]
        return archived

    def _insert(self, conn: Connection, packets: Sequence[Incoming]) -> tuple[list[Archived], bool]:
        bounded_packets = [bounded(p) for p in packets]
        for packet in bounded_packets:
            if packet.received_at.tzinfo is None:
                raise ValueError(f"naive datetime {packet.received_at!r}: every stored time must carry its zone")
        ids = _new_ids(conn, len(bounded_packets))
        seq, prev = self._seq, self._hash
        rows = []
        chained: list[tuple[int, bytes]] = []
        for id_, packet in zip(ids, bounded_packets, strict=True):
            seq += 1
            digest = record_hash_v2(prev, id_, seq, content_hash(self.writer, packet))
            rows.append(
                {
                    "id": id_,
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
                    "version": FORMAT,
                }
            )
            chained.append((seq, digest))
            prev = digest
        if conn.dialect.name == "postgresql":
            _copy_rows(conn, rows)
        else:
            conn.execute(insert(RawPacket), rows)
        checkpoint = seq // self.checkpoint_every > self._seq // self.checkpoint_every or (
            self.checkpoint_seconds is not None and time.monotonic() - self._checkpoint_time >= self.checkpoint_seconds
        )
        if checkpoint:
            self._checkpoint(conn, seq, prev, [*self._since, *(h for _, h in chained)], packets[-1].received_at)
        return [Archived(id_, seq_, hash_) for id_, (seq_, hash_) in zip(ids, chained, strict=True)], checkpoint

    def _checkpoint(self, conn: Connection, seq: int, head: bytes, hashes: list[bytes], at: datetime) -> None:
        first = self._checkpointed + 1
        tree = merkle.root(hashes)
        signature = None
        if self.signer is not None:
            signature = self.signer.sign(checkpoint_message(self.writer, first, seq, head, tree, created_at=at))
        conn.execute(
            insert(ArchiveCheckpoint).values(
                writer=self.writer,
                seq=seq,
                hash=head,
                created_at=at,
                first_seq=first,
                merkle_root=tree,
                signature=signature,
                key_fingerprint=self.signer.fingerprint if self.signer else None,
            )
        )


def signed_by(row: Row[Any], signer: Signer) -> bool:
    """Whether a stored checkpoint carries ``signer``'s valid signature."""
    if row.signature is None or row.merkle_root is None or row.first_seq is None:
        return False
    message = checkpoint_message(
        row.writer, row.first_seq, row.seq, bytes(row.hash), bytes(row.merkle_root), created_at=row.created_at
    )
    return verifies(signer.public, bytes(row.signature), message)


def _tree_holds(conn: Connection, row: Row[Any]) -> bool:
    """Whether a stored checkpoint's Merkle root is the root of the records it names."""
    if row.merkle_root is None or row.first_seq is None:
        return False
    hashes = conn.scalars(
        select(RawPacket.hash)
        .where(RawPacket.writer == row.writer, RawPacket.seq.between(row.first_seq, row.seq))
        .order_by(RawPacket.seq)
    )
    return merkle.root([bytes(h) for h in hashes]) == bytes(row.merkle_root)


def _new_ids(conn: Connection, count: int) -> list[int]:
    """Row ids taken before the rows are written, since format 2 hashes them."""
    if conn.dialect.name == "postgresql":
        return [
            int(r[0])
            for r in conn.exec_driver_sql(
                "SELECT nextval(pg_get_serial_sequence('raw_packet', 'id')) FROM generate_series(1, %s)", (count,)
            )
        ]
    # SQLite: take the write lock before reading the largest id, so that no other writer (another
    # gateway on the same file) can take the same ids in between; pysqlite would begin the
    # transaction only at the INSERT, after the read
    driver = conn.connection.driver_connection
    if driver is not None and not driver.in_transaction:
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # through SQLAlchemy: "locked" is its OperationalError
    start = (conn.scalar(select(func.max(RawPacket.id))) or 0) + 1
    return list(range(start, start + count))


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
    "version",
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
    "int2",
)


def _copy_rows(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """PostgreSQL: one binary COPY (several times faster than a many-row INSERT at the gateway's
    batch sizes); the ids were taken from the sequence beforehand."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(f"COPY raw_packet ({', '.join(_COPY_COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(list(_COPY_TYPES))
            for row in rows:
                copy.write_row([row[c] for c in _COPY_COLUMNS])
    finally:
        cursor.close()


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
    packet = stored_packet(row)
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
        intact=stored_hash_again(row, bytes(row.prev_hash)) == bytes(row.hash),
        linked=previous is not None and bytes(previous) == bytes(row.prev_hash),
    )


def stored_packet(row: Row[Any]) -> Incoming:
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


def chain_rows(conn: Connection, writer: str, batch: int = 5000) -> Iterator[Row[Any]]:
    """One chain's records in seq order, read in batches."""
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
