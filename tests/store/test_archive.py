"""The raw-packet archive: append-only, chained per writer, and every kind of tampering found."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from offsite.cli import app
from offsite.store.archive import ArchiveWriter, Incoming, UnknownRecords, records
from offsite.store.heads import heads
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
    (problem,) = verify(engine).problems
    assert (problem.writer, problem.seq) == ("gw-1", 13)
    assert "content changed" in problem.reason


def test_a_changed_receive_time_is_found(engine: Engine) -> None:
    fill(engine, "gw-1", 5)
    column = "received_at + 1" if engine.dialect.name == "sqlite" else "received_at + interval '1 second'"
    without_guard(engine, f"UPDATE raw_packet SET received_at = {column} WHERE seq = 2")
    (problem,) = verify(engine).problems
    assert problem.seq == 2


def test_a_dropped_record_is_found(engine: Engine) -> None:
    fill(engine, "gw-1", 20)
    without_guard(engine, "DELETE FROM raw_packet WHERE seq = 8")
    (problem,) = verify(engine).problems
    assert problem.seq == 8
    assert "missing" in problem.reason


def test_two_swapped_records_are_found(engine: Engine) -> None:
    fill(engine, "gw-1", 20)
    without_guard(engine, "UPDATE raw_packet SET seq = -1 WHERE seq = 5")
    without_guard(engine, "UPDATE raw_packet SET seq = 5 WHERE seq = 6")
    without_guard(engine, "UPDATE raw_packet SET seq = 6 WHERE seq = -1")
    problems = verify(engine).problems
    assert [p.seq for p in problems] == [5, 6]  # each named once, nothing else
    assert "does not follow" in problems[0].reason
    assert "moved to another id or seq" in problems[1].reason


def test_a_dropped_tail_or_a_rewritten_chain_shows_against_published_heads(engine: Engine) -> None:
    fill(engine, "gw-1", 15)
    published = heads(engine)
    without_guard(engine, "DELETE FROM raw_packet WHERE seq > 12")
    (problem,) = verify(engine).problems  # the checkpoint taken at seq 14 shows the cut …
    assert "tail was cut: it ends at seq 12, a checkpoint was taken at seq 14" in problem.reason
    cut = [p.reason for p in verify(engine, published).problems]  # … and so does the published head
    assert any("a published head is missing: the chain ends at seq 12" in r for r in cut), cut

    without_guard(engine, "DELETE FROM raw_packet")
    forged = ArchiveWriter(engine, "gw-1", checkpoint_every=10_000)
    forged.append([incoming(i + 100) for i in range(15)])
    reasons = [p.reason for p in verify(engine, published).problems]
    assert any("rewritten" in r for r in reasons), reasons  # the published head no longer matches
    assert any("checkpoint" in r for r in reasons), reasons  # nor does the checkpoint at seq 10


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
