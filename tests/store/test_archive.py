"""The raw-packet archive: append-only, chained per writer, and every kind of tampering found."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from offsite.cli import app
from offsite.store.archive import (
    ArchiveWriter,
    Incoming,
    UnknownRecords,
    content_hash,
    record_hash_v2,
    records,
    stored_packet,
)
from offsite.store.heads import heads
from offsite.store.models import RawPacket
from offsite.store.verification import verify
from tests.hj212.packets import minute_bytes

T0 = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
runner = CliRunner()


def incoming(i: int, mn: str = "MN-A") -> Incoming:
    return Incoming(
        data=minute_bytes(i % 60), peer="127.0.0.1:50000", received_at=T0 + timedelta(seconds=i), mn=mn, cn="2051"
    )


def fill(engine: Engine, writer: str, n: int, batch: int = 7) -> ArchiveWriter:
    archive = ArchiveWriter(engine, writer, checkpoint_every=10)
    for start in range(0, n, batch):
        archive.append([incoming(i) for i in range(start, min(start + batch, n))])
    return archive


def problems(engine: Engine, *args: Any, **kwargs: Any) -> list[tuple[str, int, str]]:
    """What ``verify`` names, exactly: (chain, seq, reason) of each problem, in order."""
    return [(p.writer, p.seq, p.reason) for p in verify(engine, *args, **kwargs).problems]


CHANGED = "content changed (or the record moved to another id or seq): its hash does not match"


def without_guard(engine: Engine, sql: str) -> None:
    """Change the archive as an attacker with database rights would: triggers off first."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE raw_packet DISABLE TRIGGER USER"))
            conn.execute(text(sql))
            conn.execute(text("ALTER TABLE raw_packet ENABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS raw_packet_no_update"))
            conn.execute(text("DROP TRIGGER IF EXISTS raw_packet_no_delete"))
            conn.execute(text(sql))


def test_chains_of_two_writers_verify(engine: Engine) -> None:
    fill(engine, "gw-1", 30)
    fill(engine, "gw-2", 12)
    result = verify(engine)
    assert result.ok, result.problems
    assert (result.records, result.chains) == (42, 2)
    assert [(h.writer, h.seq) for h in heads(engine)] == [("gw-1", 30), ("gw-2", 12)]


def test_heads_probe_the_index_instead_of_grouping_the_archive(engine: Engine) -> None:
    """At a province's scale a GROUP BY writer reads every record; the heads need one probe per chain."""
    fill(engine, "gw-2", 12)
    fill(engine, "gw-1", 30)
    fill(engine, "gw-10", 1)
    statements: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement.upper())

    event.listen(engine, "before_cursor_execute", seen)
    try:
        found = heads(engine)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert [(h.writer, h.seq) for h in found] == [("gw-1", 30), ("gw-10", 1), ("gw-2", 12)]
    with engine.connect() as conn:
        newest = {
            (r.writer, r.seq, bytes(r.hash).hex())
            for r in conn.execute(text("SELECT writer, seq, hash FROM raw_packet ORDER BY seq")).all()
        }
    assert {(h.writer, h.seq, h.hash) for h in found} <= newest
    assert not [s for s in statements if "GROUP BY" in s or "DISTINCT" in s], statements
    assert len(statements) == 4  # the chains' names, then one newest record each


def test_a_writer_resumes_its_chain_after_a_restart(engine: Engine) -> None:
    first = fill(engine, "gw-1", 5)
    again = ArchiveWriter(engine, "gw-1")
    assert again.head == first.head
    (record,) = again.append([incoming(5)])
    assert record.seq == 6
    assert verify(engine).ok


def test_the_database_refuses_updates_and_deletes(engine: Engine) -> None:
    fill(engine, "gw-1", 3)
    for sql in ("UPDATE raw_packet SET peer = 'x'", "DELETE FROM raw_packet"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql))
    assert verify(engine).records == 3


def test_a_changed_record_is_found(engine: Engine) -> None:
    fill(engine, "gw-1", 20)
    without_guard(engine, "UPDATE raw_packet SET data = data || 'x' WHERE writer = 'gw-1' AND seq = 13")
    assert problems(engine) == [("gw-1", 13, CHANGED)]


def test_a_changed_receive_time_is_found(engine: Engine) -> None:
    fill(engine, "gw-1", 5)
    column = "received_at + 1" if engine.dialect.name == "sqlite" else "received_at + interval '1 second'"
    without_guard(engine, f"UPDATE raw_packet SET received_at = {column} WHERE seq = 2")
    assert problems(engine) == [("gw-1", 2, CHANGED)]


def test_a_dropped_record_is_found(engine: Engine) -> None:
    fill(engine, "gw-1", 20)
    without_guard(engine, "DELETE FROM raw_packet WHERE seq = 8")
    assert problems(engine) == [("gw-1", 8, "missing: seq 8 removed, the next record is seq 9")]


def test_a_deleted_run_is_named_once_and_not_again_by_a_merkle_root(engine: Engine) -> None:
    """Before, only the run's first seq counted as named, and the checkpoint over 11–20 claimed its
    Merkle root differed: a second problem for the same deletion."""
    fill(engine, "gw-1", 30, batch=5)  # checkpoints over 1–10, 11–20, 21–30
    without_guard(engine, "DELETE FROM raw_packet WHERE seq BETWEEN 9 AND 12")
    assert problems(engine) == [("gw-1", 9, "missing: seqs 9–12 removed, the next record is seq 13")]


def test_a_record_rewritten_with_its_hash_recomputed_breaks_the_next_link(engine: Engine) -> None:
    """Its own hash is right again; only the record after it shows the change."""
    fill(engine, "gw-1", 20, batch=5)
    _rewrite_keeping_its_hash_consistent(engine, 13)
    assert problems(engine) == [
        ("gw-1", 14, "seq 14 does not follow seq 13: one of the two was rewritten or replaced"),
    ]
    _rewrite_keeping_its_hash_consistent(engine, 20)  # the checkpoint at 20 (and nothing after it) shows it
    assert problems(engine) == [
        ("gw-1", 14, "seq 14 does not follow seq 13: one of the two was rewritten or replaced"),
        ("gw-1", 20, "the chain was rewritten: it differs from the checkpoint taken at that seq"),
    ]


def test_a_rewrite_a_checkpoint_pins_is_named_at_its_record(engine: Engine) -> None:
    """The checkpoint at seq 10 proves seq 10 changed: named there once, not also as seq 11's link."""
    fill(engine, "gw-1", 20, batch=5)
    published = heads(engine)
    _rewrite_keeping_its_hash_consistent(engine, 10)
    assert problems(engine) == [
        (
            "gw-1",
            10,
            "rewritten: its hash differs from the checkpoint taken at that seq, and seq 11 does not follow it",
        )
    ]
    _rewrite_keeping_its_hash_consistent(engine, 20)
    assert problems(engine, published)[1:] == [
        (
            "gw-1",
            20,
            "the chain was rewritten: it differs from the checkpoint taken at that seq and from a published head",
        )
    ]


def _rewrite_keeping_its_hash_consistent(engine: Engine, seq: int) -> None:
    with engine.connect() as conn:
        row = conn.execute(select(*RawPacket.__table__.c).where(RawPacket.seq == seq)).one()
    packet = replace(stored_packet(row), data=bytes(row.data) + b"x")
    digest = record_hash_v2(bytes(row.prev_hash), row.id, seq, content_hash(row.writer, packet))
    without_guard(
        engine,
        f"UPDATE raw_packet SET data = {blob(engine, packet.data)}, hash = {blob(engine, digest)} WHERE id = {row.id}",
    )


def blob(engine: Engine, value: bytes) -> str:
    """A bytes literal in the engine's SQL."""
    return f"'\\x{value.hex()}'::bytea" if engine.dialect.name == "postgresql" else f"X'{value.hex()}'"


def test_two_swapped_records_are_found(engine: Engine) -> None:
    fill(engine, "gw-1", 20)
    without_guard(engine, "UPDATE raw_packet SET seq = -1 WHERE seq = 5")
    without_guard(engine, "UPDATE raw_packet SET seq = 5 WHERE seq = 6")
    without_guard(engine, "UPDATE raw_packet SET seq = 6 WHERE seq = -1")
    assert problems(engine) == [  # each named once, nothing else
        ("gw-1", 5, f"does not follow seq 4; {CHANGED}"),
        ("gw-1", 6, CHANGED),
    ]


def test_a_dropped_tail_or_a_rewritten_chain_shows_against_published_heads(engine: Engine) -> None:
    fill(engine, "gw-1", 15)
    published = heads(engine)
    without_guard(engine, "DELETE FROM raw_packet WHERE seq > 12")
    assert problems(engine) == [  # the checkpoint taken at seq 14 shows the cut …
        ("gw-1", 13, "the chain's tail was cut: it ends at seq 12, shown by the checkpoint taken at seq 14")
    ]
    assert problems(engine, published) == [  # … and so does the published head: one problem
        (
            "gw-1",
            13,
            "the chain's tail was cut: it ends at seq 12, "
            "shown by the checkpoint taken at seq 14 and a published head at seq 15",
        )
    ]

    without_guard(engine, "DELETE FROM raw_packet")
    forged = ArchiveWriter(engine, "gw-1", checkpoint_every=10_000)
    forged.append([incoming(i + 100) for i in range(15)])
    assert problems(engine, published) == [
        ("gw-1", 14, "the chain was rewritten: it differs from the checkpoint taken at that seq"),
        ("gw-1", 15, "the chain was rewritten: it differs from a published head"),
    ]


def test_a_cut_tail_is_named_once_by_every_checkpoint_and_head_past_it(engine: Engine) -> None:
    """Before, each checkpoint past the cut and each published head was a problem of its own."""
    fill(engine, "gw-1", 30, batch=5)
    published = heads(engine)
    without_guard(engine, "DELETE FROM raw_packet WHERE seq > 12")
    assert problems(engine, [*published, *published]) == [
        (
            "gw-1",
            13,
            "the chain's tail was cut: it ends at seq 12, "
            "shown by the checkpoints taken at seqs 20, 30 and a published head at seq 30",
        )
    ]


def test_a_failed_projection_rolls_the_batch_back_and_keeps_the_head(engine: Engine) -> None:
    archive = fill(engine, "gw-1", 3)
    head = archive.head

    def fail(conn: object, archived: object) -> None:
        raise RuntimeError("projection failed")

    with pytest.raises(RuntimeError):
        archive.append([incoming(3), incoming(4)], also=fail)
    assert archive.head == head
    assert archive.append([incoming(3)])[0].seq == 4
    assert verify(engine).ok


def test_checkpoints_are_taken_and_checked(engine: Engine) -> None:
    fill(engine, "gw-1", 25, batch=4)
    with engine.connect() as conn:
        seqs = conn.execute(text("SELECT seq FROM archive_checkpoint ORDER BY seq")).scalars().all()
    assert len(seqs) == 2
    assert seqs[0] >= 10
    assert seqs[1] >= 20


def test_packets_are_shown_verbatim_and_each_checked(database_url: str, engine: Engine) -> None:
    fill(engine, "gw-1", 6)
    with engine.connect() as conn:
        ids = conn.execute(text("SELECT id FROM raw_packet ORDER BY seq")).scalars().all()
    shown = runner.invoke(app, ["archive", "show", str(ids[0]), str(ids[3]), "--database-url", database_url])
    assert shown.exit_code == 0, shown.output
    assert "chain gw-1 seq 1" in shown.stdout
    assert "the first of its chain" in shown.stdout
    assert "intact; follows seq 3" in shown.stdout
    assert minute_bytes(3).decode().strip() in shown.stdout  # the packet as received
    as_json = runner.invoke(app, ["archive", "show", str(ids[3]), "--json", "--database-url", database_url])
    [record] = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert (record["seq"], record["intact"], record["linked"], record["cn"]) == (4, True, True, "2051")
    assert record["packet"] == minute_bytes(3).decode()

    without_guard(engine, "UPDATE raw_packet SET data = data || 'x' WHERE seq = 4")
    [changed] = records(engine, [ids[3]])
    assert (changed.intact, changed.linked) == (False, True)
    without_guard(engine, "DELETE FROM raw_packet WHERE seq = 2")
    [orphan] = records(engine, [ids[2]])  # seq 3: the record before it is gone
    assert (orphan.intact, orphan.linked) == (True, False)
    flagged = runner.invoke(app, ["archive", "show", str(ids[3]), "--database-url", database_url])
    assert flagged.exit_code == 1
    assert "CHANGED" in flagged.stdout

    unknown = runner.invoke(app, ["archive", "show", str(ids[0]), "999999", "--database-url", database_url])
    assert unknown.exit_code == 2
    assert "no archived packet with id 999999" in unknown.stderr
    with pytest.raises(UnknownRecords):
        records(engine, [ids[1]])  # deleted above
