"""The gateway end to end, over real sockets on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, func, select

from offsite.gateway.models import DeviceStatus, DeviceStatusChange, UnknownDevice
from offsite.hj212 import decode, encode
from offsite.hj212.crc import CrcVariant
from offsite.hj212.packet import Packet
from offsite.hj212.uploads import heartbeat, split
from offsite.sim.device import VirtualDevice
from offsite.store.archive import ArchiveWriter, Incoming
from offsite.store.models import IntervalValue, RawPacket
from offsite.store.verification import verify
from tests.gateway.helpers import DEVICES, minute_upload, register, run, running, settings_for, until

MN, PW = next(iter(DEVICES.items()))


def count(engine: Engine, model: type, *where: object) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(model).where(*where)) or 0)  # type: ignore[arg-type]


def test_an_upload_is_acknowledged_once_it_is_archived(engine: Engine, database_url: str, tmp_path: Path) -> None:
    ids = register(engine)

    async def scenario() -> None:
        async with running(settings_for(database_url, tmp_path), engine) as (gateway, port):
            device = VirtualDevice(MN, PW, ack_timeout=5)
            await device.connect("127.0.0.1", port)
            packet = minute_upload(MN, PW, device.next_qn())
            reply = await device.send(packet)
            assert reply is not None
            assert (reply.cn, reply.qn, reply.st, reply.flag) == ("9014", packet.qn, "91", 4)
            # the ack came after the durable write: the packet is in the archive now
            assert count(engine, RawPacket, RawPacket.qn == packet.qn, RawPacket.outcome == "ok") == 1
            await until(lambda: count(engine, IntervalValue, IntervalValue.device_id == ids[MN]) == 2)
            await until(lambda: gateway.presence.status(ids[MN]) == "online")
            await device.close()
        with engine.connect() as conn:
            (value,) = conn.execute(
                select(IntervalValue.avg, IntervalValue.raw_id).where(IntervalValue.factor == "a21026")
            ).all()
            raw = conn.execute(select(RawPacket.id, RawPacket.data).where(RawPacket.qn == packet.qn)).one()
        assert value.avg == 35.5
        assert value.raw_id == raw.id  # every value points to its archived packet
        assert decode(raw.data).packet == packet
        assert count(engine, DeviceStatus, DeviceStatus.status == "online") == 1
        assert count(engine, DeviceStatusChange) == 1
        assert verify(engine).ok

    run(scenario)


def test_unknown_devices_and_wrong_passwords_are_archived_listed_and_cut_off(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    register(engine)

    async def scenario() -> None:
        async with running(settings_for(database_url, tmp_path), engine) as (_, port):
            stranger = VirtualDevice("99990000000000000000NEW1", "000000", ack_timeout=0.3, retries=0)
            await stranger.connect("127.0.0.1", port)
            for minute in range(3):
                assert await stranger.send(minute_upload(stranger.mn, "000000", stranger.next_qn(), minute)) is None
            await until(lambda: not stranger.connected or stranger._reader.at_eof())  # type: ignore[union-attr]
            await stranger.close()
            impostor = VirtualDevice(MN, "wrong", ack_timeout=0.3, retries=0)
            await impostor.connect("127.0.0.1", port)
            assert await impostor.send(minute_upload(MN, "wrong", impostor.next_qn())) is None
            await impostor.close()

    run(scenario)
    with engine.connect() as conn:
        outcomes = dict(conn.execute(select(RawPacket.outcome, func.count()).group_by(RawPacket.outcome)).all())
        unknown = {r.mn: (r.packets, r.last_reason) for r in conn.execute(select(*UnknownDevice.__table__.c))}
    assert outcomes == {"unknown_mn": 3, "bad_password": 1}
    assert unknown == {"99990000000000000000NEW1": (3, "unknown_mn"), MN: (1, "bad_password")}
    assert count(engine, IntervalValue) == 0


def test_split_parts_are_acknowledged_one_by_one_and_garbage_is_skipped(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    ids = register(engine)

    async def scenario() -> None:
        async with running(settings_for(database_url, tmp_path), engine) as (_, port):
            device = VirtualDevice(MN, PW, ack_timeout=5)
            await device.connect("127.0.0.1", port)
            await device.write(b"\x00\xff AT+CSQ noise\r\n")
            whole = minute_upload(MN, PW, "20261129100000100")
            parts = split(whole, 200)
            assert len(parts) == 2
            replies = [await device.send(part) for part in parts]
            assert [r.qn for r in replies if r] == [p.qn for p in parts]
            await until(lambda: count(engine, IntervalValue, IntervalValue.device_id == ids[MN]) == 2)
            await device.close()

    run(scenario)
    assert count(engine, RawPacket, RawPacket.outcome == "no_header") == 1


def test_heartbeats_and_notices_are_answered(engine: Engine, database_url: str, tmp_path: Path) -> None:
    register(engine)

    async def scenario() -> None:
        async with running(settings_for(database_url, tmp_path), engine) as (_, port):
            device = VirtualDevice(MN, PW, ack_timeout=5)
            await device.connect("127.0.0.1", port)
            beat = await device.send(heartbeat(mn=MN, pw=PW, st="31", qn=device.next_qn()))
            assert beat is not None
            assert (beat.cn, beat.flag) == ("9014", 8)
            notice = Packet(cn="1013", st="31", qn=device.next_qn(), pw=PW, mn=MN, flag=5)
            answer = await device.send(notice)
            assert answer is not None
            assert answer.cn == "9013"
            await device.close()

    run(scenario)


def test_a_registered_legacy_crc_is_accepted_for_its_device_only(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    register(engine)

    async def scenario() -> None:
        async with running(settings_for(database_url, tmp_path), engine) as (_, port):
            legacy = VirtualDevice("LEGACY0000001", "654321", crc_variant=CrcVariant.MODBUS_SWAPPED, ack_timeout=5)
            await legacy.connect("127.0.0.1", port)
            assert await legacy.send(minute_upload("LEGACY0000001", "654321", legacy.next_qn())) is not None
            await legacy.close()
            other = VirtualDevice(MN, PW, crc_variant=CrcVariant.MODBUS_SWAPPED, ack_timeout=0.3, retries=0)
            await other.connect("127.0.0.1", port)
            assert await other.send(minute_upload(MN, PW, other.next_qn())) is None
            await other.close()

    run(scenario)
    assert count(engine, RawPacket, RawPacket.outcome == "crc_mismatch") == 1


def test_a_megabyte_of_junk_gets_the_connection_closed(engine: Engine, database_url: str, tmp_path: Path) -> None:
    register(engine)

    async def scenario() -> None:
        async with running(settings_for(database_url, tmp_path), engine) as (gateway, port):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            closed = False
            try:
                for _ in range(16):
                    writer.write((b"##9999" + b"x" * 10_010 + b"\n") * 6)
                    await writer.drain()
            except (ConnectionError, OSError):
                closed = True
            if not closed:
                # the gateway hangs up; with bytes of ours still unread (it reads a bounded amount
                # ahead), the hang-up is a reset
                with contextlib.suppress(ConnectionResetError):
                    assert await asyncio.wait_for(reader.read(), 10) == b""
            writer.close()
            # and it still serves others
            device = VirtualDevice(MN, PW, ack_timeout=5)
            await device.connect("127.0.0.1", port)
            assert await device.send(minute_upload(MN, PW, device.next_qn())) is not None
            await device.close()
            assert gateway.metrics.closed.labels("rejections")._value.get() >= 1

    run(scenario)


def test_a_silent_client_is_closed_after_the_idle_timeout(engine: Engine, database_url: str, tmp_path: Path) -> None:
    register(engine)

    async def scenario() -> None:
        async with running(settings_for(database_url, tmp_path, gateway_idle_timeout=0.5), engine) as (_, port):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert await asyncio.wait_for(reader.read(), 5) == b""
            writer.close()

    run(scenario)


def test_packets_archived_but_not_projected_are_projected_at_start(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    ids = register(engine)
    packet = minute_upload(MN, PW, "20261129100000001")
    # a previous gateway archived (and acknowledged) this packet, then died before projecting it
    ArchiveWriter(engine, "gw-dead").append(
        [Incoming(encode(packet), "127.0.0.1:1", datetime.now(UTC), mn=MN, cn="2051", qn=packet.qn)]
    )
    assert count(engine, IntervalValue) == 0

    async def scenario() -> None:
        async with running(settings_for(database_url, tmp_path), engine):
            pass

    run(scenario)
    assert count(engine, IntervalValue, IntervalValue.device_id == ids[MN]) == 2


def test_a_slow_client_sending_byte_by_byte_is_served(engine: Engine, database_url: str, tmp_path: Path) -> None:
    register(engine)

    async def scenario() -> None:
        async with running(settings_for(database_url, tmp_path, gateway_flush_after=0.5), engine) as (_, port):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            packet = minute_upload(MN, PW, "20261129100000777")
            for byte in encode(packet):
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.001)
            reply = await asyncio.wait_for(reader.readuntil(b"\r\n"), 5)
            assert decode(reply).packet.qn == packet.qn
            writer.close()

    run(scenario)


def test_the_optional_cap_on_connections_per_address(engine: Engine, database_url: str, tmp_path: Path) -> None:
    register(engine)

    async def scenario() -> None:
        settings = settings_for(database_url, tmp_path, gateway_max_connections_per_peer=2)
        async with running(settings, engine) as (gateway, port):
            kept = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert await asyncio.wait_for(reader.read(), 5) == b""  # the third is refused
            other = VirtualDevice(MN, PW, ack_timeout=5, local_addr=("127.0.0.2", 0))  # another address is fine
            await other.connect("127.0.0.1", port)
            assert await other.send(minute_upload(MN, PW, other.next_qn())) is not None
            await other.close()
            for _, w in kept:
                w.close()
            writer.close()
            assert gateway.metrics.closed.labels("per_peer_cap")._value.get() == 1

    run(scenario)


def test_a_split_message_missing_a_part_is_counted(engine: Engine, database_url: str, tmp_path: Path) -> None:
    register(engine)

    async def scenario() -> None:
        async with running(settings_for(database_url, tmp_path, gateway_split_timeout=0.2), engine) as (gateway, port):
            device = VirtualDevice(MN, PW, ack_timeout=5)
            await device.connect("127.0.0.1", port)
            first, _ = split(minute_upload(MN, PW, "20261129100000500"), 200)
            assert await device.send(first) is not None
            await asyncio.sleep(0.3)
            assert await device.send(minute_upload(MN, PW, device.next_qn(), 7)) is not None  # any later traffic
            assert gateway.metrics.incomplete._value.get() == 1
            await device.close()

    run(scenario)


def test_devices_commands(engine: Engine, database_url: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from offsite.cli import app

    register(engine)

    async def scenario() -> None:
        async with running(settings_for(database_url, tmp_path), engine) as (_, port):
            stranger = VirtualDevice("99990000000000000000NEW1", "x", ack_timeout=0.3, retries=0)
            await stranger.connect("127.0.0.1", port)
            await stranger.send(minute_upload(stranger.mn, "x", stranger.next_qn()))
            await stranger.close()
            device = VirtualDevice(MN, PW, ack_timeout=5)
            await device.connect("127.0.0.1", port)
            assert await device.send(minute_upload(MN, PW, device.next_qn())) is not None
            await device.close()

    run(scenario)
    runner = CliRunner()
    unknown = runner.invoke(app, ["devices", "unknown", "--json", "--database-url", database_url])
    assert '"mn": "99990000000000000000NEW1"' in unknown.stdout
    assert '"reason": "unknown_mn"' in unknown.stdout
    status = runner.invoke(app, ["devices", "status", "--json", "--level", "county", "--database-url", database_url])
    assert status.exit_code == 0, status.output
    assert '"region": "341302"' in status.stdout
    assert '"devices": 3' in status.stdout


def test_2005_and_2025_loggers_get_answers_in_their_own_version(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    from offsite.hj212.version import Version
    from offsite.sim.fleet import DeviceSpec, Fleet

    register(engine)
    (old_mn, old_pw), (new_mn, new_pw) = list(DEVICES.items())[:2]

    async def scenario() -> None:
        async with running(settings_for(database_url, tmp_path), engine) as (_, port):
            fleet = Fleet(
                [DeviceSpec(old_mn, old_pw, "gas", Version.V2005), DeviceSpec(new_mn, new_pw, "gas", Version.V2025)],
                "127.0.0.1",
                port,
                ack_timeout=5,
            )
            stats = await fleet.run(history_hours=1, minute_hours=0)
            assert stats.acked == stats.sent == 2

    run(scenario)
    with engine.connect() as conn:
        rows = {r.mn: decode(r.data).packet for r in conn.execute(select(RawPacket.mn, RawPacket.data))}
    assert (rows[old_mn].flag, rows[old_mn].version.value) == (1, "2005")
    assert (rows[new_mn].flag, rows[new_mn].version.value) == (9, "2025")
