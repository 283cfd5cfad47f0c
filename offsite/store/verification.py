"""Checking the archive as evidence (``offsite archive verify``): every chain, every checkpoint,
every published head — naming exactly what is wrong, and nothing else.

A chain is walked to its end even past a bad record: the next record is checked against the
hash stored before it, so one changed packet is reported once, and a published head after it
that is still present and intact is not reported at all. What the walk cannot see from inside a
chain — its tail cut off, the whole chain deleted, every hash recomputed — the checkpoints (their
Merkle roots and signatures) and the published heads show.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, Engine, Row, select

from offsite.store import merkle
from offsite.store.archive import GENESIS, chain_rows, checkpoint_message, stored_hash_again
from offsite.store.heads import Head
from offsite.store.models import ArchiveCheckpoint, RawPacket
from offsite.store.signing import fingerprint, verifies


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
    checkpoints: int = 0
    signed: int = 0
    """Checkpoints whose signature was checked against the public key."""

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(slots=True)
class _Walk:
    """What walking one chain learnt."""

    last_seq: int = 0
    hashes: dict[int, bytes] = field(default_factory=dict)
    """Stored hash at each seq a checkpoint or a published head names."""
    roots: dict[int, bytes] = field(default_factory=dict)
    """Merkle root of the stored hashes over each checkpoint's range, by the checkpoint's seq."""
    newest_format: int = 1
    bad: set[int] = field(default_factory=set)
    """Seqs already named as bad (a checkpoint over them says nothing more)."""


def verify(
    engine: Engine, published: Sequence[Head] = (), *, public_key: Ed25519PublicKey | None = None, batch: int = 5000
) -> Verification:
    """Walk every chain, then hold it against its checkpoints and the published heads."""
    problems: list[Problem] = []
    total = 0
    walks: dict[str, _Walk] = {}
    with engine.connect() as conn:
        writers = conn.scalars(select(RawPacket.writer).distinct().order_by(RawPacket.writer)).all()
        checkpoints = conn.execute(
            select(*ArchiveCheckpoint.__table__.c).order_by(ArchiveCheckpoint.writer, ArchiveCheckpoint.seq)
        ).all()
        for writer in writers:
            own = [c for c in checkpoints if c.writer == writer]
            wanted = {c.seq for c in own} | {h.seq for h in published if h.writer == writer}
            walk, count = _walk(conn, writer, own, wanted, batch=batch, problems=problems)
            walks[writer] = walk
            total += count
    signed = 0
    for checkpoint in checkpoints:
        signed += _check_checkpoint(checkpoint, walks.get(checkpoint.writer), public_key, problems)
    for head in published:
        _check_head(head, walks.get(head.writer), public_key, problems)
    return Verification(total, len(writers), problems, len(checkpoints), signed)


def _walk(
    conn: Connection,
    writer: str,
    checkpoints: list[Row[Any]],
    wanted: set[int],
    *,
    batch: int,
    problems: list[Problem],
) -> tuple[_Walk, int]:
    walk = _Walk()
    ranges = {c.seq: c.first_seq for c in checkpoints if c.merkle_root is not None}
    starts = set(ranges.values())
    leaves: list[bytes] = []
    expected_seq, prev, count = 1, GENESIS, 0
    for row in chain_rows(conn, writer, batch):
        count += 1
        stored_prev, stored = bytes(row.prev_hash), bytes(row.hash)
        reasons = []
        if row.seq != expected_seq:
            gap = f"seq {expected_seq}" if row.seq == expected_seq + 1 else f"seqs {expected_seq}–{row.seq - 1}"
            problems.append(
                Problem(writer, expected_seq, None, f"missing: {gap} removed, the next record is seq {row.seq}")
            )
            walk.bad.add(expected_seq)
        elif stored_prev != prev and row.seq - 1 not in walk.bad:  # a bad predecessor is named already
            reasons.append("does not follow the previous record (reordered, or a record replaced)")
        if row.version < walk.newest_format:
            reasons.append(f"format {row.version} after records of format {walk.newest_format}")
        walk.newest_format = max(walk.newest_format, row.version)
        if stored_hash_again(row, stored_prev) != stored:
            moved = " (or the record moved to another id or seq)" if row.version >= 2 else ""
            reasons.append(f"content changed{moved}: its hash does not match")
        if reasons:
            problems.append(Problem(writer, row.seq, row.id, "; ".join(reasons)))
            walk.bad.add(row.seq)
        if row.seq in starts:
            leaves = []
        leaves.append(stored)
        if row.seq in ranges:
            walk.roots[row.seq] = merkle.root(leaves) if row.seq - ranges[row.seq] + 1 == len(leaves) else b""
        if row.seq in wanted:
            walk.hashes[row.seq] = stored
        walk.last_seq = row.seq
        # go on from what is stored, so that one bad record is named once and the rest is judged on its own
        prev, expected_seq = stored, row.seq + 1
    return walk, count


def _check_checkpoint(
    c: Row[Any], walk: _Walk | None, public_key: Ed25519PublicKey | None, problems: list[Problem]
) -> int:
    if walk is None:
        problems.append(
            Problem(c.writer, c.seq, None, f"the whole chain is gone: a checkpoint was taken at seq {c.seq}")
        )
        return 0
    if walk.last_seq < c.seq:
        problems.append(
            Problem(
                c.writer,
                walk.last_seq + 1,
                None,
                f"the chain's tail was cut: it ends at seq {walk.last_seq}, a checkpoint was taken at seq {c.seq}",
            )
        )
        return 0
    stored = walk.hashes.get(c.seq)
    named = any(c.first_seq <= seq <= c.seq for seq in walk.bad) if c.first_seq else c.seq in walk.bad
    if stored is not None and stored != bytes(c.hash) and not named:
        problems.append(Problem(c.writer, c.seq, None, "differs from the checkpoint taken at that seq"))
    if c.merkle_root is not None and walk.roots.get(c.seq) != bytes(c.merkle_root) and not named:
        problems.append(
            Problem(
                c.writer, c.seq, None, f"records {c.first_seq}–{c.seq} differ from the Merkle root of their checkpoint"
            )
        )
    if public_key is None:
        return 0
    if c.signature is None:
        if c.merkle_root is not None:
            problems.append(Problem(c.writer, c.seq, None, "the checkpoint is not signed"))
        return 0
    message = checkpoint_message(c.writer, c.first_seq, c.seq, bytes(c.hash), bytes(c.merkle_root or b""))
    if not verifies(public_key, bytes(c.signature), message):
        problems.append(
            Problem(
                c.writer,
                c.seq,
                None,
                f"the checkpoint's signature does not verify with the public key {fingerprint(public_key)}",
            )
        )
    return 1


def _check_head(head: Head, walk: _Walk | None, public_key: Ed25519PublicKey | None, problems: list[Problem]) -> None:
    if public_key is not None and not head.verifies_with(public_key):
        problems.append(
            Problem(
                head.writer,
                head.seq,
                None,
                f"this published head is not signed by the key {fingerprint(public_key)}: "
                "the heads file is not authentic",
            )
        )
        return
    if walk is None:
        problems.append(Problem(head.writer, head.seq, None, "the whole chain of a published head is gone"))
        return
    stored = walk.hashes.get(head.seq)
    if stored is None:
        reason = (
            f"a published head is missing: the chain ends at seq {walk.last_seq} (its tail was cut)"
            if walk.last_seq < head.seq
            else "a published head is missing from the chain"
        )
        problems.append(Problem(head.writer, head.seq, None, reason))
    elif stored.hex() != head.hash:
        problems.append(
            Problem(head.writer, head.seq, None, "the chain was rewritten: it differs from a published head")
        )
