"""Tamper evidence that holds against the database's own owner (issue 13, point 6)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, insert, select, text
from typer.testing import CliRunner

import offsite.settings
from offsite.cli import app
from offsite.store import merkle
from offsite.store.archive import (
    GENESIS,
    ArchiveWriter,
    checkpoint_message,
    content_hash,
    record_hash,
    record_hash_v2,
    stored_packet,
)
from offsite.store.heads import heads, parse_heads, signed_heads
from offsite.store.models import ArchiveCheckpoint, RawPacket
from offsite.store.signing import Signer, SigningKeyError, load_public_key, signer
from offsite.store.verification import verify
from tests.store.test_archive import T0, fill, incoming, without_guard

runner = CliRunner()


def test_swapped_row_ids_are_found(engine: Engine) -> None:
    """Values and clues cite records by id: moving a packet to another id must show."""
    fill(engine, "gw-1", 12)
    with engine.connect() as conn:
        a, b = conn.execute(text("SELECT id FROM raw_packet WHERE seq IN (3, 4) ORDER BY seq")).scalars().all()
    without_guard(engine, f"UPDATE raw_packet SET id = -1 WHERE id = {a}")
    without_guard(engine, f"UPDATE raw_packet SET id = {a} WHERE id = {b}")
    without_guard(engine, f"UPDATE raw_packet SET id = {b} WHERE id = -1")
    problems = verify(engine).problems
    assert [p.seq for p in problems] == [3, 4]
    assert all("moved to another id" in p.reason for p in problems)


def test_a_deleted_chain_shows_by_its_checkpoints(engine: Engine) -> None:
    fill(engine, "gw-1", 12)
    fill(engine, "gw-2", 25)
    without_guard(engine, "DELETE FROM raw_packet WHERE writer = 'gw-2'")
    problems = verify(engine).problems
    assert problems
    assert {p.writer for p in problems} == {"gw-2"}
    assert all("the whole chain is gone" in p.reason for p in problems)


def test_one_changed_packet_is_named_and_nothing_else(engine: Engine) -> None:
    """Before, a later published head was claimed 'no longer in the chain' although intact."""
    fill(engine, "gw-1", 30)
    published = heads(engine)
    without_guard(engine, "UPDATE raw_packet SET data = data || 'x' WHERE seq = 13")
    (problem,) = verify(engine, published).problems
    assert problem.seq == 13
    assert "content changed" in problem.reason


def test_a_recomputed_chain_fails_the_signatures(engine: Engine, tmp_path: Path) -> None:
    """The database's owner rewrites a record and recomputes every hash, Merkle root and checkpoint
    after it; only the deployment's key, which is not in the database, shows it."""
    key = signer(tmp_path, create=True)
    archive = ArchiveWriter(engine, "gw-1", checkpoint_every=10, signer=key)
    for start in range(0, 25, 5):
        archive.append([incoming(i) for i in range(start, start + 5)])
    assert verify(engine, public_key=key.public).signed == 2
    forger = signer(tmp_path / "forger", create=True)
    _recompute_from(engine, "gw-1", 7, b"forged", forger)
    assert verify(engine).ok  # consistent in itself: hashes, links and Merkle roots all recomputed
    problems = verify(engine, public_key=key.public).problems
    assert [p.seq for p in problems] == [10, 20]
    assert all(f"does not verify with the public key {key.fingerprint}" in p.reason for p in problems)


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
            f"UPDATE raw_packet SET data = {_blob(engine, new_data)}, prev_hash = {_blob(engine, new_prev)}, "
            f"hash = {_blob(engine, digest)} WHERE id = {id_}",
        )
    for c in checkpoints:
        root = merkle.root([hashes[s] for s in range(c.first_seq, c.seq + 1)])
        signature = forger.sign(checkpoint_message(writer, c.first_seq, c.seq, hashes[c.seq], root))
        sql = (
            f"UPDATE archive_checkpoint SET hash = {_blob(engine, hashes[c.seq])}, "
            f"merkle_root = {_blob(engine, root)}, signature = {_blob(engine, signature)} "
            f"WHERE writer = '{writer}' AND seq = {c.seq}"
        )
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("ALTER TABLE archive_checkpoint DISABLE TRIGGER USER"))
                conn.execute(text(sql))
                conn.execute(text("ALTER TABLE archive_checkpoint ENABLE TRIGGER USER"))
            else:
                conn.execute(text("DROP TRIGGER IF EXISTS archive_checkpoint_no_update"))
                conn.execute(text(sql))


def _blob(engine: Engine, value: bytes) -> str:
    return f"'\\x{value.hex()}'::bytea" if engine.dialect.name == "postgresql" else f"X'{value.hex()}'"


def test_records_of_the_first_format_keep_verifying(engine: Engine) -> None:
    """An archive written before format 2 is never rewritten; new records continue its chains."""
    prev = GENESIS
    rows = []
    for seq in range(1, 4):
        packet = incoming(seq)
        digest = record_hash(prev, "gw-old", seq, packet)
        rows.append(
            {
                "id": seq,
                "writer": "gw-old",
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
            conn.execute(text("SELECT setval(pg_get_serial_sequence('raw_packet', 'id'), 3)"))
    ArchiveWriter(engine, "gw-old").append([incoming(4), incoming(5)])
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version FROM raw_packet ORDER BY seq")).scalars().all() == [1, 1, 1, 2, 2]
    assert verify(engine).ok
    without_guard(engine, "UPDATE raw_packet SET version = 1 WHERE seq = 5")  # a downgrade to the weaker format
    (problem,) = verify(engine).problems
    assert problem.seq == 5
    assert "format 1 after records of format 2" in problem.reason


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
    fill(engine, "gw-1", 8)
    published = signed_heads(engine, key, T0)
    lines = [h.as_json() for h in published]
    assert verify(engine, parse_heads(lines, "heads"), public_key=key.public).ok
    forged = [lines[0].replace(published[0].hash, "00" * 32)]  # a heads file edited to fit a rewritten chain
    (problem,) = verify(engine, parse_heads(forged, "heads"), public_key=key.public).problems
    assert "not signed by the key" in problem.reason
    stranger = signer(tmp_path / "other", create=True)
    (problem,) = verify(engine, parse_heads(lines, "heads"), public_key=stranger.public).problems
    assert "not authentic" in problem.reason


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
    without_guard(engine, "DELETE FROM raw_packet WHERE seq > 9")
    cut = runner.invoke(app, ["archive", "verify", *args, "--database-url", database_url])
    assert cut.exit_code == 1
    assert "BAD: chain gw-1, seq 12 (no record): a published head is missing: the chain ends at seq 9" in cut.stdout
    (tmp_path / "broken.jsonl").write_text('{"writer": "gw-1"}\n')
    broken = runner.invoke(
        app, ["archive", "verify", "--heads", str(tmp_path / "broken.jsonl"), "--database-url", database_url]
    )
    assert broken.exit_code == 2
    assert "broken.jsonl, line 1: not a head" in broken.stderr
