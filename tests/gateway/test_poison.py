"""A packet whose header fields no column was made for must not stop the archive (issue 13, point 1).

Before, a CN of 99999, a 30-digit QN or a 40-character MN overflowed the archive's columns on
PostgreSQL; the failure was taken for an outage, the batch went to the spool, and every later
batch replayed it first and failed again: devices were acknowledged, the archive took nothing.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

import offsite.store.archive
from offsite.gateway.spool import Spool, Spooled
from offsite.hj212.crc import crc_text, hj212_crc
from offsite.sim.device import VirtualDevice
from offsite.store.archive import HEADER_FIELD_MAX, Incoming, bounded
from offsite.store.models import RawPacket
from offsite.store.verification import verify
from tests.gateway.helpers import DEVICES, minute_upload, register, run, running, settings_for, until, utcnow

MN, PW = next(iter(DEVICES.items()))
LONG_MN = "9" * 40


def frame(segment: str) -> bytes:
    data = segment.encode()
    return b"##" + f"{len(data):04d}".encode() + data + crc_text(hj212_crc(data)).encode() + b"\r\n"


HOSTILE = [
    frame(f"QN=20261129100000000;ST=31;CN=99999;PW=123456;MN={LONG_MN};Flag=4;CP=&&DataTime=20261129100000&&"),
    frame(f"QN={'1' * 30};ST=31;CN=2051;PW=123456;MN={LONG_MN};Flag=4;CP=&&DataTime=20261129100000&&"),
    frame(f"QN=20261129100000000;ST=31;CN=2051;PW=123456;MN={'8' * 40};Flag=4;CP=&&DataTime=20261129100000&&"),
]


def rows(engine: Engine) -> list[RawPacket]:
    with engine.connect() as conn:
        return list(conn.execute(select(RawPacket).order_by(RawPacket.id)).all())  # type: ignore[arg-type]


async def send_raw(port: int, frames: list[bytes]) -> None:
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for data in frames:
        writer.write(data)
        await writer.drain()
        await asyncio.sleep(0.05)
    writer.close()
    await writer.wait_closed()


def test_overlong_header_fields_are_archived_bounded_and_block_nothing(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    register(engine)

    async def scenario() -> None:
        async with running(settings_for(database_url, tmp_path), engine) as (gateway, port):
            await send_raw(port, HOSTILE)
            await until(lambda: len(rows(engine)) == 3)
            device = VirtualDevice(MN, PW, ack_timeout=5)
            await device.connect("127.0.0.1", port)
            assert await device.send(minute_upload(MN, PW, device.next_qn())) is not None
            await device.close()
            assert gateway.ingest.spooled == 0

    run(scenario)
    stored = rows(engine)
    assert len(stored) == 4
    hostile, real = stored[:3], stored[3]
    assert {r.outcome for r in hostile} <= {"unknown_mn", "bad_header_field"}
    assert all(r.mn is None or len(r.mn) <= HEADER_FIELD_MAX for r in hostile)
    assert [bytes(r.data) for r in hostile] == HOSTILE  # the bytes themselves are kept whole
    assert real.outcome == "ok"
    assert real.mn == MN
    assert verify(engine).ok


def test_a_value_the_database_refuses_is_archived_as_unstorable_not_spooled(
    postgres_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second line of defence: a record that fails on its data (here: bounding switched off,
    so PostgreSQL refuses the 100-character MN) is archived without its header fields, with the
    reason, one by one; the rest of its batch and everything after is archived as usual."""
    register(postgres_engine)
    monkeypatch.setattr(offsite.store.archive, "bounded", lambda packet: packet)
    url = postgres_engine.url.render_as_string(hide_password=False)
    poison = frame(f"QN=20261129100000000;ST=31;CN=2051;PW=1;MN={'7' * 100};Flag=4;CP=&&DataTime=20261129100000&&")

    async def scenario() -> None:
        async with running(settings_for(url, tmp_path), postgres_engine) as (gateway, port):
            await send_raw(port, [poison])
            await until(lambda: len(rows(postgres_engine)) == 1)
            device = VirtualDevice(MN, PW, ack_timeout=5)
            await device.connect("127.0.0.1", port)
            assert await device.send(minute_upload(MN, PW, device.next_qn())) is not None
            await device.close()
            assert gateway.ingest.spooled == 0
            assert gateway.metrics.unstorable._value.get() == 1

    run(scenario)
    first, second = rows(postgres_engine)
    assert first.outcome == "unstorable"
    assert first.mn is None
    assert bytes(first.data) == poison
    assert "StringDataRightTruncation" in (first.error or "") or "too long" in (first.error or "")
    assert second.outcome == "ok"
    assert verify(postgres_engine).ok


def test_a_spool_holding_such_a_packet_replays_it_and_all_after(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    """A spool written by the old code (the poisoned packet first) empties into the archive."""
    register(engine)
    settings = settings_for(database_url, tmp_path)
    spooled = [
        Spooled(Incoming(HOSTILE[2], "127.0.0.1:5000", utcnow(), "unknown_mn", "unregistered", "8" * 40), None),
        Spooled(Incoming(HOSTILE[0], "127.0.0.1:5000", utcnow(), "unknown_mn", "unregistered", LONG_MN, "99999"), None),
    ]
    assert settings.gateway_spool_dir is not None
    Spool(settings.gateway_spool_dir).append(spooled)

    async def scenario() -> None:
        async with running(settings, engine) as (gateway, port):
            device = VirtualDevice(MN, PW, ack_timeout=5)
            await device.connect("127.0.0.1", port)
            assert await device.send(minute_upload(MN, PW, device.next_qn())) is not None
            await device.close()
            await until(lambda: gateway.ingest.spooled == 0)

    run(scenario)
    stored = rows(engine)
    assert [bytes(r.data) for r in stored[:2]] == [HOSTILE[2], HOSTILE[0]]
    assert stored[2].outcome == "ok"
    assert verify(engine).ok


def test_bounded_escapes_and_cuts_what_a_device_chose() -> None:
    packet = Incoming(b"x", "127.0.0.1:1", utcnow(), "unknown_mn", None, "A\x00B\x1b[2J" + "9" * 100, "2051", "1\n2")
    safe = bounded(packet)
    assert safe.mn is not None
    assert len(safe.mn) == HEADER_FIELD_MAX
    assert safe.mn.startswith("A\\x00B\\x1b[2J")
    assert safe.qn == "1\\n2"
    assert safe.error == "MN of 113 characters cut to 64"  # 1 + 4 (\x00) + 1 + 4 (\x1b) + 3 + 100
    plain = Incoming(b"x", "127.0.0.1:1", utcnow(), mn=MN, cn="2051", qn="20261129100000000")
    assert bounded(plain) is plain
