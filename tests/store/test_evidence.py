"""Tamper evidence that holds against the database's own owner (issue 13, point 6)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, insert, select, text
from typer.testing import CliRunner

import offsite.settings
from offsite.cli import app
from offsite.hj212.times import CST
from offsite.store import merkle
from offsite.store.archive import (
    GENESIS,
    ArchiveWriter,
    Incoming,
    checkpoint_message,
    content_hash,
    record_hash,
    record_hash_v2,
    stored_packet,
)
from offsite.store.heads import Head, HeadsFileError, heads, parse_heads, signed_heads
from offsite.store.models import ArchiveCheckpoint, RawPacket
from offsite.store.signing import Signer, SigningKeyError, load_public_key, signer
from offsite.store.verification import verify
from tests.store.test_archive import CHANGED, T0, blob, fill, incoming, problems, without_guard

runner = CliRunner()


def test_swapped_row_ids_are_found(engine: Engine) -> None:
    """Values and clues cite records by id: moving a packet to another id must show."""
    fill(engine, "gw-1", 12)
    with engine.connect() as conn:
        a, b = conn.execute(text("SELECT id FROM raw_packet WHERE seq IN (3, 4) ORDER BY seq")).scalars().all()
    without_guard(engine, f"UPDATE raw_packet SET id = -1 WHERE id = {a}")
    without_guard(engine, f"UPDATE raw_packet SET id = {a} WHERE id = {b}")
    without_guard(engine, f"UPDATE raw_packet SET id = {b} WHERE id = -1")
    assert problems(engine) == [("gw-1", 3, CHANGED), ("gw-1", 4, CHANGED)]


def test_a_deleted_chain_is_named_once_by_its_checkpoints_and_heads(engine: Engine) -> None:
    """Before, each of its checkpoints was a problem of its own."""
    fill(engine, "gw-1", 12)
    fill(engine, "gw-2", 25)  # checkpoints at seqs 14 and 21
    published = heads(engine)
    without_guard(engine, "DELETE FROM raw_packet WHERE writer = 'gw-2'")
    assert problems(engine) == [("gw-2", 1, "the whole chain is gone, shown by the checkpoints taken at seqs 14, 21")]
    assert problems(engine, published) == [
        (
            "gw-2",
            1,
            "the whole chain is gone, shown by the checkpoints taken at seqs 14, 21 and a published head at seq 25",
        )
    ]


def test_one_changed_packet_is_named_and_nothing_else(engine: Engine) -> None:
    """Before, a later published head was claimed 'no longer in the chain' although intact."""
    fill(engine, "gw-1", 30)
    published = heads(engine)
    without_guard(engine, "UPDATE raw_packet SET data = data || 'x' WHERE seq = 13")
    assert problems(engine, published) == [("gw-1", 13, CHANGED)]


def test_a_recomputed_chain_fails_the_signatures(engine: Engine, tmp_path: Path) -> None:
    """The database's owner rewrites a record and recomputes every hash, Merkle root and checkpoint
    after it; only the deployment's key, which is not in the database, shows it."""
    key = signer(tmp_path, create=True)
    signed_chain(engine, key, 25)
    assert verify(engine, public_keys=[key.public]).signed == 2
    forger = signer(tmp_path / "forger", create=True)
    _recompute_from(engine, "gw-1", 7, b"forged", forger)
    assert verify(engine).ok  # consistent in itself: hashes, links and Merkle roots all recomputed
    forged = (
        f"the checkpoint's signature does not verify with the public key {key.fingerprint}: it was forged or changed"
    )
    assert problems(engine, public_keys=[key.public]) == [("gw-1", 10, forged), ("gw-1", 20, forged)]


def signed_chain(engine: Engine, key: Signer, n: int, writer: str = "gw-1") -> ArchiveWriter:
    """n records in batches of 5, a checkpoint every 10 (over 1–10, 11–20 …), signed with ``key``."""
    archive = ArchiveWriter(engine, writer, checkpoint_every=10, signer=key)
    for start in range(0, n, 5):
        archive.append([incoming(i) for i in range(start, min(start + 5, n))])
    return archive


def test_deleting_the_checkpoints_does_not_hide_a_recomputed_chain(engine: Engine, tmp_path: Path) -> None:
    """Before, a chain rewritten from seq 7 with every hash recomputed, its checkpoints deleted,
    verified with the public key: nothing was left to check the key against."""
    key = signer(tmp_path, create=True)
    signed_chain(engine, key, 25)
    assert verify(engine, public_keys=[key.public], slack=15).ok  # 21–25 wait for the next checkpoint
    _recompute_from(engine, "gw-1", 7, b"forged", signer(tmp_path / "forger", create=True))
    without_checkpoint_guard(engine, "DELETE FROM archive_checkpoint")
    assert verify(engine).ok
    assert problems(engine, public_keys=[key.public], slack=15) == [
        ("gw-1", 1, "records 1–25 are covered by no signed checkpoint")
    ]
    assert verify(engine, public_keys=[key.public], slack=25).ok  # a tail within the slack waits for its checkpoint


def test_signed_checkpoints_must_follow_one_another(engine: Engine, tmp_path: Path) -> None:
    """A checkpoint deleted between two others leaves its records uncovered: the next one's range,
    signed, starts after them."""
    key = signer(tmp_path, create=True)
    signed_chain(engine, key, 45)
    without_checkpoint_guard(engine, "DELETE FROM archive_checkpoint WHERE seq IN (10, 30)")
    assert problems(engine, public_keys=[key.public], slack=15) == [
        ("gw-1", 1, "records 1–10 are covered by no signed checkpoint"),
        ("gw-1", 21, "records 21–30 are covered by no signed checkpoint"),
    ]
    without_checkpoint_guard(engine, "DELETE FROM archive_checkpoint WHERE seq = 40")
    assert problems(engine, public_keys=[key.public], slack=15) == [
        ("gw-1", 1, "records 1–10 are covered by no signed checkpoint"),
        ("gw-1", 21, "records 21–45 are covered by no signed checkpoint"),  # the tail of 25 is past the slack
    ]
    assert problems(engine, slack=15) == []  # without a key, nothing says the checkpoints were there


def test_uncovered_records_that_are_gone_are_named_once(engine: Engine, tmp_path: Path) -> None:
    key = signer(tmp_path, create=True)
    signed_chain(engine, key, 35)
    without_guard(engine, "DELETE FROM raw_packet WHERE seq BETWEEN 14 AND 16")
    without_checkpoint_guard(engine, "DELETE FROM archive_checkpoint WHERE seq = 20")
    assert problems(engine, public_keys=[key.public], slack=15) == [
        ("gw-1", 11, "records 11–13 are covered by no signed checkpoint"),
        ("gw-1", 14, "missing: seqs 14–16 removed, the next record is seq 17"),
        ("gw-1", 17, "records 17–20 are covered by no signed checkpoint"),
    ]


def test_records_of_the_first_format_need_no_signed_checkpoint(engine: Engine, tmp_path: Path) -> None:
    """A chain begun before format 2 needs signed checkpoints only after the newest checkpoint its
    older version took (no Merkle root, no signature) before its first record of format 2."""
    _first_format_records(engine, "gw-old", 25)
    _legacy_checkpoints(engine, "gw-old", [10, 20])
    key = signer(tmp_path, create=True)
    archive = ArchiveWriter(engine, "gw-old", checkpoint_every=10, signer=key)
    for start in range(25, 50, 5):
        archive.append([incoming(i) for i in range(start, start + 5)])  # signed: 30 (from 1), 40, 50
    assert verify(engine, public_keys=[key.public], slack=15).ok
    assert verify(engine, public_keys=[key.public], slack=15).checkpoints == 5
    without_checkpoint_guard(engine, "DELETE FROM archive_checkpoint WHERE seq = 30")
    assert problems(engine, public_keys=[key.public], slack=15) == [
        ("gw-old", 21, "records 21–30 are covered by no signed checkpoint")  # before, only 26–30 (format 2)
    ]


def test_records_of_the_first_format_without_checkpoints_wait_only_for_the_slack(
    engine: Engine, tmp_path: Path
) -> None:
    """Records of format 1 that no older checkpoint closed must be covered like any other."""
    _first_format_records(engine, "gw-old", 7)
    key = signer(tmp_path, create=True)
    archive = ArchiveWriter(engine, "gw-old", checkpoint_every=10, signer=key)
    for start in range(7, 37, 5):
        archive.append([incoming(i) for i in range(start, start + 5)])  # signed: 10 (from 1), 20, 30
    assert verify(engine, public_keys=[key.public], slack=15).ok  # 31–37 wait for the next checkpoint
    without_checkpoint_guard(engine, "DELETE FROM archive_checkpoint")
    assert verify(engine, public_keys=[key.public], slack=40).ok  # within the slack
    assert problems(engine, public_keys=[key.public], slack=15) == [
        ("gw-old", 1, "records 1–37 are covered by no signed checkpoint")  # before, 8–37
    ]
    assert verify(engine, slack=15).ok  # without a key, nothing says the checkpoints were there


def test_a_chain_recomputed_as_format_1_needs_signed_checkpoints(engine: Engine, tmp_path: Path) -> None:
    """Before, a chain of format 2 recomputed as format 1 (no record id in its hashes), its
    checkpoints deleted, verified with the key: coverage began at the first record of format 2."""
    key = signer(tmp_path, create=True)
    signed_chain(engine, key, 25)
    _recompute_as_format_1(engine, "gw-1", upto=25)
    without_checkpoint_guard(engine, "DELETE FROM archive_checkpoint")
    assert verify(engine).ok
    uncovered = [("gw-1", 1, "records 1–25 are covered by no signed checkpoint")]
    assert problems(engine, public_keys=[key.public], slack=15) == uncovered
    _recompute_as_format_1(engine, "gw-1", upto=20)  # 21–25 of format 2 again: within the slack
    assert verify(engine).ok
    assert problems(engine, public_keys=[key.public], slack=15) == uncovered
    assert verify(engine, public_keys=[key.public], slack=25).ok  # a tail within the slack waits


def test_an_unsigned_checkpoint_after_records_of_format_2_is_a_forged_row(engine: Engine, tmp_path: Path) -> None:
    """Only versions before format 2 took checkpoints without a Merkle root or a signature. Before,
    one inserted past the end made the chain's tail 'cut'; one inside it was taken as evidence."""
    key = signer(tmp_path, create=True)
    signed_chain(engine, key, 25)
    with engine.begin() as conn:
        conn.execute(insert(ArchiveCheckpoint).values(writer="gw-1", seq=1003, hash=bytes(32), created_at=T0))
    forged = "an unsigned checkpoint after records of format 2: a forged row"
    assert problems(engine, public_keys=[key.public], slack=15) == [("gw-1", 1003, forged)]
    assert problems(engine) == [  # without a key, an older checkpoint is one as before
        ("gw-1", 26, "the chain's tail was cut: it ends at seq 25, shown by the checkpoint taken at seq 1003")
    ]
    without_checkpoint_guard(engine, "DELETE FROM archive_checkpoint WHERE seq = 1003")
    _legacy_checkpoints(engine, "gw-1", [22])  # with the right hash: still no version took it
    assert problems(engine, public_keys=[key.public], slack=15) == [("gw-1", 22, forged)]
    assert verify(engine).ok


def test_each_checkpoint_and_head_is_checked_with_the_key_it_names(engine: Engine, tmp_path: Path) -> None:
    """A key ring: a deployment that changed its key keeps both public keys; a checkpoint signed by a
    key not given is named as such, not as a forgery."""
    old, new = signer(tmp_path / "old", create=True), signer(tmp_path / "new", create=True)
    signed_chain(engine, old, 20)
    signed_chain(engine, new, 20, writer="gw-2")
    archive = ArchiveWriter(engine, "gw-1", checkpoint_every=10, signer=new)  # gw-1 goes on under the new key
    archive.append([incoming(i) for i in range(20, 30)])
    published = [*signed_heads(engine, old, T0)[:1], *signed_heads(engine, new, T0)[1:]]
    both = [old.public, new.public]
    result = verify(engine, published, public_keys=both)
    assert result.ok, result.problems
    assert result.signed == 5
    unknown = f"signed by key {new.fingerprint}, which is not among the public keys given"
    assert problems(engine, published, public_keys=[old.public]) == [
        ("gw-1", 30, f"the checkpoint is {unknown}"),
        ("gw-2", 10, f"the checkpoint is {unknown}"),
        ("gw-2", 20, f"the checkpoint is {unknown}"),
        ("gw-2", 20, f"this published head is {unknown}"),
    ]
    # a checkpoint signed by the new key but labelled with the old one's fingerprint: a forgery
    without_checkpoint_guard(
        engine,
        f"UPDATE archive_checkpoint SET key_fingerprint = '{old.fingerprint}' WHERE writer = 'gw-2' AND seq = 10",
    )
    assert problems(engine, published, public_keys=both) == [
        (
            "gw-2",
            10,
            f"the checkpoint's signature does not verify with the public key {old.fingerprint}: "
            "it was forged or changed",
        )
    ]


def test_a_checkpoint_signature_covers_its_time(engine: Engine, tmp_path: Path) -> None:
    """Before, its created_at could be changed under a valid signature."""
    key = signer(tmp_path, create=True)
    signed_chain(engine, key, 10)
    later = "created_at + 1" if engine.dialect.name == "sqlite" else "created_at + interval '1 second'"
    without_checkpoint_guard(engine, f"UPDATE archive_checkpoint SET created_at = {later}")
    assert problems(engine, public_keys=[key.public]) == [
        (
            "gw-1",
            10,
            f"the checkpoint's signature does not verify with the public key {key.fingerprint}: "
            "it was forged or changed",
        )
    ]


def without_checkpoint_guard(engine: Engine, sql: str) -> None:
    """Change the checkpoints as an attacker with database rights would: triggers off first."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE archive_checkpoint DISABLE TRIGGER USER"))
            conn.execute(text(sql))
            conn.execute(text("ALTER TABLE archive_checkpoint ENABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS archive_checkpoint_no_update"))
            conn.execute(text("DROP TRIGGER IF EXISTS archive_checkpoint_no_delete"))
            conn.execute(text(sql))


def _recompute_from(engine: Engine, writer: str, seq: int, data: bytes, forger: Signer) -> None:
    with engine.begin() as conn:
        rows = conn.execute(
            select(*RawPacket.__table__.c).where(RawPacket.writer == writer).order_by(RawPacket.seq)
        ).all()
        checkpoints = conn.execute(select(*ArchiveCheckpoint.__table__.c).order_by(ArchiveCheckpoint.seq)).all()
    prev, hashes = GENESIS, {}
    updates = []
    for row in rows:
        packet = stored_packet(row)
        if row.seq == seq:
            packet = replace(packet, data=data)
        digest = record_hash_v2(prev, row.id, row.seq, content_hash(writer, packet))
        updates.append((row.id, packet.data, prev, digest))
        hashes[row.seq] = digest
        prev = digest
    for id_, new_data, new_prev, digest in updates:
        without_guard(
            engine,
            f"UPDATE raw_packet SET data = {blob(engine, new_data)}, prev_hash = {blob(engine, new_prev)}, "
            f"hash = {blob(engine, digest)} WHERE id = {id_}",
        )
    for c in checkpoints:
        root = merkle.root([hashes[s] for s in range(c.first_seq, c.seq + 1)])
        message = checkpoint_message(writer, c.first_seq, c.seq, hashes[c.seq], root, created_at=c.created_at)
        without_checkpoint_guard(
            engine,
            f"UPDATE archive_checkpoint SET hash = {blob(engine, hashes[c.seq])}, "
            f"merkle_root = {blob(engine, root)}, signature = {blob(engine, forger.sign(message))} "
            f"WHERE writer = '{writer}' AND seq = {c.seq}",
        )


def test_records_of_the_first_format_keep_verifying(engine: Engine) -> None:
    """An archive written before format 2 is never rewritten; new records continue its chains."""
    _first_format_records(engine, "gw-old", 3)
    ArchiveWriter(engine, "gw-old").append([incoming(4), incoming(5)])
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version FROM raw_packet ORDER BY seq")).scalars().all() == [1, 1, 1, 2, 2]
    assert verify(engine).ok
    without_guard(engine, "UPDATE raw_packet SET version = 1 WHERE seq = 5")  # a downgrade to the weaker format
    assert problems(engine) == [
        ("gw-old", 5, "format 1 after records of format 2: its version was changed (its hash is that of format 2)")
    ]


def _first_format_records(engine: Engine, writer: str, n: int) -> None:
    """Records 1 … n as an archive written before format 2 holds them (ids 1 … n)."""
    prev = GENESIS
    rows = []
    for seq in range(1, n + 1):
        packet = incoming(seq)
        digest = record_hash(prev, writer, seq, packet)
        rows.append(
            {
                "id": seq,
                "writer": writer,
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
                "version": 1,
            }
        )
        prev = digest
    with engine.begin() as conn:
        conn.execute(insert(RawPacket), rows)
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('raw_packet', 'id'), {n})"))


def _legacy_checkpoints(engine: Engine, writer: str, seqs: list[int]) -> None:
    """Checkpoints as versions before format 2 took them: the head's hash, no range, root or signature."""
    with engine.begin() as conn:
        for seq in seqs:
            head = conn.scalar(select(RawPacket.hash).where(RawPacket.writer == writer, RawPacket.seq == seq))
            conn.execute(insert(ArchiveCheckpoint).values(writer=writer, seq=seq, hash=head, created_at=T0))


def _recompute_as_format_1(engine: Engine, writer: str, upto: int) -> None:
    """Every hash recomputed: records 1 … ``upto`` as format 1, the rest as format 2."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(*RawPacket.__table__.c).where(RawPacket.writer == writer).order_by(RawPacket.seq)
        ).all()
    prev = GENESIS
    for row in rows:
        packet = stored_packet(row)
        if row.seq <= upto:
            version, digest = 1, record_hash(prev, writer, row.seq, packet)
        else:
            version, digest = 2, record_hash_v2(prev, row.id, row.seq, content_hash(writer, packet))
        without_guard(
            engine,
            f"UPDATE raw_packet SET prev_hash = {blob(engine, prev)}, hash = {blob(engine, digest)}, "
            f"version = {version} WHERE id = {row.id}",
        )
        prev = digest


def test_the_first_format_hashes_as_it_always_did() -> None:
    """Records of format 1 are never rewritten: their hash must not change by a bit."""
    packet = Incoming(
        data=b"##0001QN=1\r\n", peer="10.0.0.1:5000", received_at=T0, mn=None, cn="2051", qn="", error=None
    )
    assert record_hash(GENESIS, "gw-old", 3, packet).hex() == (
        "48ff950b6ba64a89c099c663b1f0ab33a0c0e03805a184f2c3d921f08d4712d7"
    )
    other = Incoming(
        data=b"x",
        peer="p",
        received_at=T0 + timedelta(seconds=1, microseconds=500),
        outcome="crc_mismatch",
        error="bad",
        mn="MN",
        cn=None,
        qn="7",
    )
    assert record_hash(bytes(range(32)), "gw-old", 4, other).hex() == (
        "56d692b98a949fbd35513f6c6725a60c96665a98227792c4ec939c89845d6d72"
    )


@pytest.mark.parametrize("name", ["mn", "cn", "qn", "error"])
def test_an_absent_field_is_not_an_empty_one(name: str) -> None:
    """Before, format 2 hashed None and "" alike: a CN could be blanked without a trace."""
    packet = incoming(1)
    absent, empty = replace(packet, **{name: None}), replace(packet, **{name: ""})
    assert content_hash("gw-1", absent) != content_hash("gw-1", empty)
    assert record_hash(GENESIS, "gw-1", 1, absent) == record_hash(GENESIS, "gw-1", 1, empty)  # format 1 as it was


def test_a_blanked_header_field_is_found(engine: Engine) -> None:
    """Before, a QN the packet never had could be set to '' (or an empty one removed) unseen."""
    fill(engine, "gw-1", 5)  # no QN: stored as NULL
    without_guard(engine, "UPDATE raw_packet SET qn = '' WHERE seq = 3")
    assert problems(engine) == [("gw-1", 3, CHANGED)]


def test_the_signed_messages_are_framed() -> None:
    """Before, a head's fields were joined by newlines: a writer name holding one made two heads sign alike."""
    digest = "ab" * 32
    assert Head("a\n1", 2, digest, T0).message() != Head("a", 1, f"2\n{digest}", T0).message()
    assert checkpoint_message("gw", 1, 10, bytes(32), bytes(32), created_at=T0) != checkpoint_message(
        "gw", 1, 10, bytes(32), bytes(32), created_at=T0 + timedelta(microseconds=1)
    )
    # the same instant written in another zone is the same message
    assert checkpoint_message("gw", 1, 10, bytes(32), bytes(32), created_at=T0) == checkpoint_message(
        "gw", 1, 10, bytes(32), bytes(32), created_at=T0.astimezone(CST)
    )


def test_a_checkpoint_root_proves_one_packet(engine: Engine) -> None:
    fill(engine, "gw-1", 25, batch=5)
    with engine.connect() as conn:
        checkpoint = conn.execute(select(*ArchiveCheckpoint.__table__.c).order_by(ArchiveCheckpoint.seq)).first()
        assert checkpoint is not None
        hashes = [
            bytes(h)
            for h in conn.execute(
                select(RawPacket.hash)
                .where(RawPacket.seq.between(checkpoint.first_seq, checkpoint.seq))
                .order_by(RawPacket.seq)
            ).scalars()
        ]
    assert merkle.root(hashes) == bytes(checkpoint.merkle_root)
    path = merkle.proof(hashes, 3)
    assert merkle.verify_proof(hashes[3], 3, len(hashes), path, bytes(checkpoint.merkle_root))
    assert not merkle.verify_proof(hashes[4], 3, len(hashes), path, bytes(checkpoint.merkle_root))


@given(st.lists(st.binary(min_size=1, max_size=8), min_size=1, max_size=40), st.data())
def test_every_leaf_has_a_proof_and_no_other_leaf_passes(leaves: list[bytes], data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(leaves) - 1))
    root = merkle.root(leaves)
    path = merkle.proof(leaves, index)
    assert merkle.verify_proof(leaves[index], index, len(leaves), path, root)
    assert len(path) <= max(1, len(leaves)).bit_length()
    if len(leaves) > 1:
        other = (index + 1) % len(leaves)
        if leaves[other] != leaves[index]:
            assert not merkle.verify_proof(leaves[other], index, len(leaves), path, root)
    assert not merkle.verify_proof(hashlib.sha256(b"not a leaf").digest(), index, len(leaves), path, root)


def test_signed_heads_prove_themselves(engine: Engine, tmp_path: Path) -> None:
    key = signer(tmp_path, create=True)
    signed_chain(engine, key, 20)  # heads are published from signed checkpoints, never from bare records
    published = signed_heads(engine, key, T0)
    lines = [h.as_json() for h in published]
    assert verify(engine, parse_heads(lines, "heads"), public_keys=[key.public]).ok
    forged = [lines[0].replace(published[0].hash, "00" * 32)]  # a heads file edited to fit a rewritten chain
    assert problems(engine, parse_heads(forged, "heads"), public_keys=[key.public]) == [
        ("gw-1", 20, f"this published head is not signed by the key {key.fingerprint}: the heads file is not authentic")
    ]
    stranger = signer(tmp_path / "other", create=True)
    unknown = f"signed by key {key.fingerprint}, which is not among the public keys given"
    assert problems(engine, parse_heads(lines, "heads"), public_keys=[stranger.public]) == [
        ("gw-1", 10, f"the checkpoint is {unknown}"),
        ("gw-1", 20, f"the checkpoint is {unknown}"),
        ("gw-1", 20, f"this published head is {unknown}"),
    ]
    unsigned = [h.as_json() for h in heads(engine)]
    assert problems(engine, parse_heads(unsigned, "heads"), public_keys=[key.public]) == [
        ("gw-1", 20, "this published head is not signed: the heads file is not authentic")
    ]


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({"hash": "00" * 31}, "hash '" + "00" * 31 + "' is not 64 lowercase hex digits"),
        ({"hash": "AB" * 32}, "hash '" + "AB" * 32 + "' is not 64 lowercase hex digits"),
        ({"seq": 0}, "seq 0 is not a whole number of 1 or more"),
        ({"seq": "7"}, "seq '7' is not a whole number of 1 or more"),
        ({"received_at": "2026-11-29T02:00:00"}, "received_at '2026-11-29T02:00:00' has no time zone"),
    ],
)
def test_a_heads_file_line_that_is_no_head_is_refused_by_number(change: dict[str, object], refusal: str) -> None:
    good = {"writer": "gw-1", "seq": 3, "hash": "ab" * 32, "received_at": T0.isoformat()}
    lines = [json.dumps(good), "", json.dumps({**good, **change})]
    with pytest.raises(HeadsFileError) as raised:
        parse_heads(lines, "heads.jsonl")
    assert str(raised.value) == f"heads.jsonl, line 3: not a head ({refusal})"


def test_the_signing_key_is_private_to_its_owner(tmp_path: Path) -> None:
    key = signer(tmp_path, create=True)
    path = tmp_path / "archive-signing.key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert signer(tmp_path).fingerprint == key.fingerprint  # made once, then read
    path.chmod(0o640)
    with pytest.raises(SigningKeyError, match="may be read by others"):
        signer(tmp_path)
    (tmp_path / "bad.pem").write_text("not a key")
    with pytest.raises(SigningKeyError, match="not a readable PEM public key"):
        load_public_key(tmp_path / "bad.pem")


def test_the_cli_signs_publishes_and_verifies(database_url: str, engine: Engine, tmp_path: Path) -> None:
    archive = ArchiveWriter(engine, "gw-1", checkpoint_every=10, signer=signer(tmp_path / "data", create=True))
    for start in range(0, 12, 4):
        archive.append([incoming(i) for i in range(start, start + 4)])
    env = {"OFFSITE_DATA_DIR": str(tmp_path / "data")}
    offsite.settings.get_settings.cache_clear()
    try:
        published = runner.invoke(app, ["archive", "heads", "--database-url", database_url], env=env)
        public = runner.invoke(app, ["archive", "public-key"], env=env)
    finally:
        offsite.settings.get_settings.cache_clear()
    assert published.exit_code == 0, published.output
    fingerprint = signer(tmp_path / "data").fingerprint
    assert f"signed with key {fingerprint}" in published.stderr
    (tmp_path / "heads.jsonl").write_text(published.stdout)
    (tmp_path / "public.pem").write_text(public.stdout)
    args = ["--heads", str(tmp_path / "heads.jsonl"), "--public-key", str(tmp_path / "public.pem")]
    ok = runner.invoke(app, ["archive", "verify", *args, "--database-url", database_url])
    assert ok.exit_code == 0, ok.output
    assert f"1 published heads verified, 1 signed checkpoints checked with key {fingerprint}" in ok.stdout

    other = signer(tmp_path / "other", create=True)  # a second gateway, under a key of its own
    (tmp_path / "other.pem").write_text(other.public_pem())
    ArchiveWriter(engine, "gw-2", checkpoint_every=10, signer=other).append([incoming(i) for i in range(10)])
    ring = [*args, "--public-key", str(tmp_path / "other.pem")]
    both = runner.invoke(app, ["archive", "verify", *ring, "--database-url", database_url])
    assert both.exit_code == 0, both.output
    keys = ", ".join(sorted([fingerprint, other.fingerprint]))
    assert f"1 published heads verified, 2 signed checkpoints checked with keys {keys}" in both.stdout
    only_one = runner.invoke(app, ["archive", "verify", *args, "--database-url", database_url])
    assert only_one.exit_code == 1
    assert only_one.stdout == (
        f"BAD: chain gw-2, seq 10 (no record): the checkpoint is signed by key {other.fingerprint}, "
        "which is not among the public keys given\n"
    )

    without_guard(engine, "DELETE FROM raw_packet WHERE seq > 9 AND writer = 'gw-1'")
    cut = runner.invoke(app, ["archive", "verify", *ring, "--database-url", database_url])
    assert cut.exit_code == 1
    assert cut.stdout == (
        "BAD: chain gw-1, seq 10 (no record): the chain's tail was cut: it ends at seq 9, "
        "shown by the checkpoint taken at seq 12 and a published head at seq 12\n"
    )
    (tmp_path / "broken.jsonl").write_text('{"writer": "gw-1"}\n')
    broken = runner.invoke(
        app, ["archive", "verify", "--heads", str(tmp_path / "broken.jsonl"), "--database-url", database_url]
    )
    assert broken.exit_code == 2
    assert "broken.jsonl, line 1: not a head" in broken.stderr
