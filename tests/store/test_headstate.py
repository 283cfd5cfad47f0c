"""The writer's own record of its chain head: a database head it did not leave is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select

from offsite.store.archive import ArchiveWriter, content_hash, record_hash_v2
from offsite.store.headstate import ForeignRecords, HeadState
from offsite.store.models import RawPacket
from tests.store.test_archive import fill, incoming


def forge_next(engine: Engine, writer: str) -> None:
    """What anyone who may INSERT into raw_packet can do: one correctly chained record."""
    with engine.begin() as conn:
        last = conn.execute(
            select(RawPacket.id, RawPacket.seq, RawPacket.hash)
            .where(RawPacket.writer == writer)
            .order_by(RawPacket.seq.desc())
            .limit(1)
        ).one()
        packet = incoming(999, mn="FORGED")
        new_id, seq = last.id + 1000, last.seq + 1
        conn.execute(
            insert(RawPacket).values(
                id=new_id,
                writer=writer,
                seq=seq,
                received_at=packet.received_at,
                peer=packet.peer,
                mn=packet.mn,
                cn=packet.cn,
                qn=packet.qn,
                outcome="ok",
                error=None,
                data=packet.data,
                prev_hash=bytes(last.hash),
                hash=record_hash_v2(bytes(last.hash), new_id, seq, content_hash(writer, packet)),
                version=2,
            )
        )


def test_a_forged_record_is_neither_adopted_nor_chained_on(engine: Engine, tmp_path: Path) -> None:
    state = HeadState(tmp_path / "gw-1.head")
    archive = ArchiveWriter(engine, "gw-1", state=state)
    archive.append([incoming(i) for i in range(3)])
    forge_next(engine, "gw-1")
    with pytest.raises(ForeignRecords, match="holds records after seq 3 that this writer did not write"):
        ArchiveWriter(engine, "gw-1", state=state)
    assert ArchiveWriter(engine, "gw-1").head[0] == 4  # without its record, a writer would adopt it


def test_a_cut_or_rewritten_head_is_refused(engine: Engine, tmp_path: Path) -> None:
    state = HeadState(tmp_path / "gw-1.head")
    fill(engine, "gw-1", 5)
    ArchiveWriter(engine, "gw-1", state=state)  # first start: the database's head is taken as its own
    with pytest.raises(ForeignRecords, match="this writer wrote up to seq 5"):
        state.check("gw-1", 4, bytes(32))
    with pytest.raises(ForeignRecords, match="was rewritten: its record at seq 5"):
        state.check("gw-1", 5, bytes(32))


def test_a_crash_on_either_side_of_the_commit_is_not_taken_for_tampering(engine: Engine, tmp_path: Path) -> None:
    state = HeadState(tmp_path / "gw-1.head")
    archive = ArchiveWriter(engine, "gw-1", state=state)
    archive.append([incoming(0)])
    before = archive.head
    state.intend(before, (2, b"\x01" * 32))  # the process died with this commit in flight …
    ArchiveWriter(engine, "gw-1", state=state)  # … and it never committed: the old head is known
    archive = ArchiveWriter(engine, "gw-1", state=state)
    archive.append([incoming(1)])  # this one did commit; its intent was written first
    assert ArchiveWriter(engine, "gw-1", state=state).head == archive.head


def test_an_unreadable_head_record_stops_the_writer(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "gw-1.head"
    path.write_text("{not json")
    with pytest.raises(ForeignRecords, match="cannot be read"):
        ArchiveWriter(engine, "gw-1", state=HeadState(path))


def test_a_torn_write_of_the_head_record_leaves_the_head_before_it(tmp_path: Path) -> None:
    path = tmp_path / "gw-1.head"
    state = HeadState(path)
    state.intend((1, b"\x01" * 32), (2, b"\x02" * 32))
    state.intend((2, b"\x02" * 32), (3, b"\x03" * 32))  # the newer slot
    data = bytearray(path.read_bytes())
    newer = 0 if data[:256].find(b'"seq":2') != -1 else 256
    data[newer + 20] ^= 0xFF  # a power cut tore it
    path.write_bytes(bytes(data))
    HeadState(path).check("gw-1", 2, b"\x02" * 32)  # the slot before it still knows seq 1 -> 2
    with pytest.raises(ForeignRecords):
        HeadState(path).check("gw-1", 3, b"\x03" * 32)
