"""Checking the archive as evidence (``offsite archive verify``): every chain, every checkpoint,
every published head — naming exactly what is wrong, and nothing else.

A chain is walked to its end even past a bad record: the next record is checked against the
hash stored before it, so one changed packet is reported once, and a published head after it
that is still present and intact is not reported at all. What the walk cannot see from inside a
chain — its tail cut off, the whole chain deleted, every hash recomputed — the checkpoints (their
Merkle roots and signatures) and the published heads show. With public keys, the signed
checkpoints must also cover every record, one after another, but for the newest few (``slack``):
deleting checkpoints does not hide a recomputed chain. Only records of format 1 up to the newest
checkpoint an older version wrote (no Merkle root, no signature) before the chain's first record
of format 2 need none; such a checkpoint after a record of format 2 is a forged row.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, Engine, Row, select

from offsite.store import merkle
from offsite.store.archive import (
    GENESIS,
    chain_rows,
    checkpoint_message,
    content_hash,
    record_hash_v2,
    stored_hash_again,
    stored_packet,
)
from offsite.store.heads import Head, chain_writers
from offsite.store.models import ArchiveCheckpoint, RawPacket
from offsite.store.signing import fingerprint, verifies

DEFAULT_SLACK = 2 * 1000 + 500
"""Records of format 2 after a chain's last checkpoint that need no checkpoint yet: twice the
default ``archive_checkpoint_every`` and one ``gateway_batch_size`` (the CLI reads both)."""


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
    """Checkpoints whose signature was checked with one of the public keys (its own fingerprint's)."""

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(slots=True)
class _Walk:
    """What walking one chain learnt."""

    writer: str
    records: int = 0
    last_seq: int = 0
    first_v2: int | None = None
    """The first record of format 2 (with keys, a checkpoint without signature after it is forged)."""
    pinned: dict[int, tuple[bytes, int]] = field(default_factory=dict)
    """Stored hash and record id at each seq a checkpoint or a published head names."""
    roots: dict[int, bytes] = field(default_factory=dict)
    """Merkle root of the stored hashes over each checkpoint's range, by the checkpoint's seq."""
    newest_format: int = 1
    bad: list[tuple[int, int]] = field(default_factory=list)
    """Ranges of seqs already named as bad, ascending (a checkpoint over them says nothing more)."""
    missing: list[tuple[int, int]] = field(default_factory=list)
    """Ranges of seqs that are gone, ascending."""
    problems: list[Problem | None] = field(default_factory=list)
    unlinked: dict[int, int] = field(default_factory=dict)
    """Records whose only fault is not following the one before them: seq -> index in ``problems``."""

    def mark(self, first: int, last: int) -> None:
        if self.bad and self.bad[-1][1] >= first - 1:
            self.bad[-1] = (self.bad[-1][0], max(self.bad[-1][1], last))
        else:
            self.bad.append((first, last))

    def named(self, first: int, last: int) -> bool:
        """Whether any seq of ``first`` … ``last`` is named as bad already."""
        at = bisect.bisect_right(self.bad, last, key=lambda r: r[0]) - 1
        return at >= 0 and self.bad[at][1] >= first


@dataclass(slots=True)
class _Evidence:
    """What the checkpoints and published heads of one chain show against it."""

    beyond_checkpoints: list[int] = field(default_factory=list)
    beyond_heads: list[int] = field(default_factory=list)
    differs: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))


def verify(
    engine: Engine,
    published: Sequence[Head] = (),
    *,
    public_keys: Sequence[Ed25519PublicKey] = (),
    public_key: Ed25519PublicKey | None = None,
    slack: int = DEFAULT_SLACK,
    batch: int = 5000,
) -> Verification:
    """Walk every chain, then hold it against its checkpoints and the published heads.

    ``public_keys`` (or one ``public_key``): each checkpoint and head is checked with the key of
    the fingerprint it names; with them, the signed checkpoints must cover every record of format
    2 but the last ``slack`` of its chain."""
    ring = {fingerprint(k): k for k in [*public_keys, *([public_key] if public_key is not None else [])]}
    problems: list[Problem] = []
    total = signed = 0
    with engine.connect() as conn:
        writers = chain_writers(conn)
        checkpoints = conn.execute(
            select(*ArchiveCheckpoint.__table__.c).order_by(ArchiveCheckpoint.writer, ArchiveCheckpoint.seq)
        ).all()
        own_checkpoints: dict[str, list[Row[Any]]] = defaultdict(list)
        for c in checkpoints:
            own_checkpoints[c.writer].append(c)
        own_heads: dict[str, list[Head]] = defaultdict(list)
        for head in published:
            own_heads[head.writer].append(head)
        for writer in sorted({*writers, *own_checkpoints, *own_heads}):
            found, count, checked = _judge(
                conn,
                writer,
                exists=writer in writers,
                checkpoints=own_checkpoints[writer],
                published=own_heads[writer],
                ring=ring,
                slack=slack,
                batch=batch,
            )
            problems += found
            total += count
            signed += checked
    return Verification(total, len(writers), problems, len(checkpoints), signed)


def _judge(
    conn: Connection,
    writer: str,
    *,
    exists: bool,
    checkpoints: list[Row[Any]],
    published: list[Head],
    ring: dict[str, Ed25519PublicKey],
    slack: int,
    batch: int,
) -> tuple[list[Problem], int, int]:
    """One chain held against its own checkpoints and published heads."""
    problems: list[Problem] = []
    signed = 0
    evidence_checkpoints = []
    for c in checkpoints:
        authentic, checked = _checkpoint_signature(c, ring, problems)
        signed += checked
        if authentic:
            evidence_checkpoints.append(c)
    evidence_heads = [h for h in published if _head_signature(h, ring, problems)]
    if not exists:
        shown_by = _shown_by([c.seq for c in evidence_checkpoints], [h.seq for h in evidence_heads])
        if shown_by:
            problems.append(Problem(writer, 1, None, f"the whole chain is gone, shown by {shown_by}"))
        return _in_order(problems), 0, signed

    wanted = {c.seq for c in checkpoints} | {h.seq for h in evidence_heads}
    walk = _walk(conn, writer, evidence_checkpoints, wanted, batch=batch)
    exempt = 0
    if ring:
        evidence_checkpoints, exempt = _legacy_checkpoints(evidence_checkpoints, walk, problems)
    shown = _Evidence()
    for c in evidence_checkpoints:
        _hold_checkpoint(c, walk, shown, problems)
    for head in evidence_heads:
        _hold_head(head, walk, shown)
    beyond = _shown_by(shown.beyond_checkpoints, shown.beyond_heads)
    if beyond:
        problems.append(
            Problem(
                writer,
                walk.last_seq + 1,
                None,
                f"the chain's tail was cut: it ends at seq {walk.last_seq}, shown by {beyond}",
            )
        )
    for seq, against in shown.differs.items():
        _rewritten(walk, seq, against, problems)
    if ring:
        _coverage(conn, walk, checkpoints, slack, problems, exempt=exempt)
    problems += [p for p in walk.problems if p is not None]
    return _in_order(problems), walk.records, signed


def _in_order(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: p.seq)


def _walk(conn: Connection, writer: str, checkpoints: list[Row[Any]], wanted: set[int], *, batch: int) -> _Walk:
    walk = _Walk(writer)
    ranges = {c.seq: c.first_seq for c in checkpoints if c.merkle_root is not None and c.first_seq is not None}
    starts = set(ranges.values())
    leaves: list[bytes] = []
    expected_seq, prev = 1, GENESIS
    for row in chain_rows(conn, writer, batch):
        walk.records += 1
        stored_prev, stored = bytes(row.prev_hash), bytes(row.hash)
        if row.seq < expected_seq:  # only a seq below 1: they are unique and read in order
            walk.problems.append(Problem(writer, row.seq, row.id, "a seq no chain has (a chain starts at seq 1)"))
            continue
        reasons = []
        unlinked = False
        if row.seq != expected_seq:
            gap = f"seq {expected_seq}" if row.seq == expected_seq + 1 else f"seqs {expected_seq}–{row.seq - 1}"
            walk.problems.append(
                Problem(writer, expected_seq, None, f"missing: {gap} removed, the next record is seq {row.seq}")
            )
            walk.mark(expected_seq, row.seq - 1)
            walk.missing.append((expected_seq, row.seq - 1))
        elif stored_prev != prev and not walk.named(row.seq - 1, row.seq - 1):  # a bad predecessor is named already
            unlinked = True
        intact = stored_hash_again(row, stored_prev) == stored
        if row.version < walk.newest_format:
            downgraded = f"format {row.version} after records of format {walk.newest_format}"
            if not intact and _as_format_2(row, stored_prev) == stored:
                intact = True  # only its version column was changed
                downgraded += ": its version was changed (its hash is that of format 2)"
            reasons.append(downgraded)
        walk.newest_format = max(walk.newest_format, row.version)
        if row.version >= 2 and walk.first_v2 is None:
            walk.first_v2 = row.seq
        if not intact:
            moved = " (or the record moved to another id or seq)" if row.version >= 2 else ""
            reasons.append(f"content changed{moved}: its hash does not match")
        if unlinked:
            if reasons:
                before = "the genesis hash" if row.seq == 1 else f"seq {row.seq - 1}"
                reasons.insert(0, f"does not follow {before}")
            else:
                walk.unlinked[row.seq] = len(walk.problems)
                reasons.append(
                    "seq 1 does not start from the genesis hash: it was rewritten or replaced"
                    if row.seq == 1
                    else f"seq {row.seq} does not follow seq {row.seq - 1}: one of the two was rewritten or replaced"
                )
        if reasons:
            walk.problems.append(Problem(writer, row.seq, row.id, "; ".join(reasons)))
            walk.mark(row.seq, row.seq)
        if row.seq in starts:
            leaves = []
        leaves.append(stored)
        if row.seq in ranges:
            walk.roots[row.seq] = merkle.root(leaves) if row.seq - ranges[row.seq] + 1 == len(leaves) else b""
        if row.seq in wanted:
            walk.pinned[row.seq] = (stored, row.id)
        walk.last_seq = row.seq
        # go on from what is stored, so that one bad record is named once and the rest is judged on its own
        prev, expected_seq = stored, row.seq + 1
    return walk


def _legacy(c: Row[Any]) -> bool:
    """A checkpoint as versions before format 2 wrote it: neither a Merkle root nor a signature."""
    return c.merkle_root is None and c.signature is None


def _legacy_checkpoints(
    checkpoints: list[Row[Any]], walk: _Walk, problems: list[Problem]
) -> tuple[list[Row[Any]], int]:
    """With keys: an older checkpoint is evidence only before the chain's first record of format 2;
    one after it is a row anyone could have inserted, named and set aside. Also the seq of the
    newest one kept: the records of format 1 up to it need no signed checkpoint."""
    kept, exempt = [], 0
    for c in checkpoints:
        if _legacy(c):
            if walk.first_v2 is not None and c.seq >= walk.first_v2:
                problems.append(
                    Problem(
                        c.writer,
                        c.seq,
                        None,
                        "an unsigned checkpoint after records of format 2: a forged row",
                    )
                )
                continue
            exempt = max(exempt, c.seq)
        kept.append(c)
    return kept, exempt


def _as_format_2(row: Row[Any], prev_hash: bytes) -> bytes:
    return record_hash_v2(prev_hash, row.id, row.seq, content_hash(row.writer, stored_packet(row)))


def _checkpoint_signature(c: Row[Any], ring: dict[str, Ed25519PublicKey], problems: list[Problem]) -> tuple[bool, int]:
    """Whether the checkpoint may be held against its chain (with keys: its signature verifies, or
    it is an older one that never had a Merkle root or a signature), and whether a key checked it."""
    if not ring:
        return True, 0
    if c.signature is None:
        if c.merkle_root is None:
            return True, 0
        problems.append(Problem(c.writer, c.seq, None, "the checkpoint is not signed"))
        return False, 0
    key = ring.get(c.key_fingerprint) if c.key_fingerprint else None
    if key is None:
        problems.append(
            Problem(
                c.writer,
                c.seq,
                None,
                f"the checkpoint is signed by key {c.key_fingerprint or '(none named)'}, "
                "which is not among the public keys given",
            )
        )
        return False, 0
    message = checkpoint_message(
        c.writer,
        c.first_seq if c.first_seq is not None else 0,
        c.seq,
        bytes(c.hash),
        bytes(c.merkle_root or b""),
        created_at=c.created_at,
    )
    if not verifies(key, bytes(c.signature), message):
        problems.append(
            Problem(
                c.writer,
                c.seq,
                None,
                f"the checkpoint's signature does not verify with the public key {c.key_fingerprint}: "
                "it was forged or changed",
            )
        )
        return False, 1
    return True, 1


def _head_signature(head: Head, ring: dict[str, Ed25519PublicKey], problems: list[Problem]) -> bool:
    """Whether the published head may be held against its chain (without keys, every one is)."""
    if not ring:
        return True
    if head.signature is None:
        reason = "this published head is not signed: the heads file is not authentic"
    elif head.key is None or head.key not in ring:
        reason = (
            f"this published head is signed by key {head.key or '(none named)'}, "
            "which is not among the public keys given"
        )
    elif not head.verifies_with(ring[head.key]):
        reason = f"this published head is not signed by the key {head.key}: the heads file is not authentic"
    else:
        return True
    problems.append(Problem(head.writer, head.seq, None, reason))
    return False


def _hold_checkpoint(c: Row[Any], walk: _Walk, shown: _Evidence, problems: list[Problem]) -> None:
    if walk.last_seq < c.seq:
        shown.beyond_checkpoints.append(c.seq)
        return
    stored = walk.pinned.get(c.seq)
    if stored is None or walk.named(c.seq, c.seq):  # named already (missing, changed)
        return
    if stored[0] != bytes(c.hash):
        shown.differs[c.seq].append("the checkpoint taken at that seq")
    elif (
        c.merkle_root is not None
        and walk.roots.get(c.seq) != bytes(c.merkle_root)
        and not walk.named(c.first_seq if c.first_seq is not None else c.seq, c.seq)
    ):
        problems.append(
            Problem(
                c.writer, c.seq, None, f"records {c.first_seq}–{c.seq} differ from the Merkle root of their checkpoint"
            )
        )


def _hold_head(head: Head, walk: _Walk, shown: _Evidence) -> None:
    if walk.last_seq < head.seq:
        shown.beyond_heads.append(head.seq)
        return
    if walk.named(head.seq, head.seq):
        return
    stored = walk.pinned.get(head.seq)
    if stored is not None and stored[0].hex() != head.hash and "a published head" not in shown.differs[head.seq]:
        shown.differs[head.seq].append("a published head")


def _rewritten(walk: _Walk, seq: int, against: list[str], problems: list[Problem]) -> None:
    """A record whose stored hash differs from a checkpoint or published head at its seq. If only
    the next record's link broke, that was this record's rewrite: named here, once."""
    record_id = walk.pinned[seq][1]
    differs = " and from ".join(against)
    following = walk.unlinked.pop(seq + 1, None)
    if following is not None:
        walk.problems[following] = None
        reason = f"rewritten: its hash differs from {differs}, and seq {seq + 1} does not follow it"
    else:
        reason = f"the chain was rewritten: it differs from {differs}"
    problems.append(Problem(walk.writer, seq, record_id, reason))


def _coverage(
    conn: Connection, walk: _Walk, checkpoints: list[Row[Any]], slack: int, problems: list[Problem], *, exempt: int
) -> None:
    """Signed checkpoints must follow one another over the chain's records after ``exempt`` (the
    newest older checkpoint kept, before any record of format 2), each starting after the one
    before, up to the newest ``slack`` records — whatever the records' format: one recomputed as
    format 1 needs its signed checkpoint as much."""
    start = exempt + 1
    if walk.last_seq < start:
        return
    uncovered = []
    previous: Row[Any] | None = None
    for c in checkpoints:  # in seq order
        if c.merkle_root is None or c.first_seq is None:
            continue  # an older checkpoint: no range, no signature
        if c.seq >= start:
            if previous is None:
                if c.first_seq > start:
                    uncovered.append((start, c.first_seq - 1))
            elif c.first_seq > previous.seq + 1:
                uncovered.append((max(previous.seq + 1, start), c.first_seq - 1))
            elif c.first_seq <= previous.seq:
                problems.append(
                    Problem(
                        c.writer,
                        c.seq,
                        None,
                        f"the checkpoint's records {c.first_seq}–{c.seq} overlap those of the checkpoint "
                        f"taken at seq {previous.seq}",
                    )
                )
        previous = c
    after = max(start, previous.seq + 1) if previous is not None else start
    if walk.last_seq - after + 1 > slack:
        uncovered.append((after, walk.last_seq))
    clipped = [(first, min(last, walk.last_seq)) for first, last in uncovered if first <= walk.last_seq]
    for first, last in _present(clipped, walk.missing):  # a cut tail is named on its own
        record_id = conn.scalar(select(RawPacket.id).where(RawPacket.writer == walk.writer, RawPacket.seq == first))
        problems.append(
            Problem(walk.writer, first, record_id, f"records {first}–{last} are covered by no signed checkpoint")
        )


def _present(runs: list[tuple[int, int]], missing: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The runs without the seqs that are gone (named as missing already)."""
    out = []
    for first, last in runs:
        at = first
        for gone_first, gone_last in missing:
            if gone_last < at or gone_first > last:
                continue
            if gone_first > at:
                out.append((at, gone_first - 1))
            at = gone_last + 1
        if at <= last:
            out.append((at, last))
    return out


def _shown_by(checkpoints: list[int], heads: list[int]) -> str:
    """'the checkpoints taken at seqs 20, 30 and a published head at seq 30'."""
    parts = []
    if checkpoints:
        seqs = sorted(set(checkpoints))
        parts.append(
            ("the checkpoint taken at seq " if len(seqs) == 1 else "the checkpoints taken at seqs ") + _listed(seqs)
        )
    if heads:
        seqs = sorted(set(heads))
        parts.append(("a published head at seq " if len(seqs) == 1 else "published heads at seqs ") + _listed(seqs))
    return " and ".join(parts)


def _listed(seqs: list[int]) -> str:
    if len(seqs) <= 4:
        return ", ".join(map(str, seqs))
    return f"{seqs[0]}, {seqs[1]} … {seqs[-1]} ({len(seqs)} in all)"
