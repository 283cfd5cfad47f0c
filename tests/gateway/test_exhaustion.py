"""What a peer may hold over time: acks behind a hung database, sockets kept by separators or
silence, the connection cap, the bytes a connection buffers, archive rows of reconnecting junk."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from offsite.db import make_engine
from offsite.gateway.commands import Commander
from offsite.gateway.guard import AddressGuard
from offsite.gateway.models import PlatformCommand
from offsite.gateway.server import Gateway
from offsite.hj212 import encode
from offsite.sim.device import VirtualDevice
from offsite.store.models import RawPacket
from tests.gateway.helpers import DEVICES, minute_upload, register, run, running, settings_for, until
from tests.gateway.test_hostile import closed_by_peer, connect, replies
from tests.proxy import Proxy

(MN, PW), (MN_B, PW_B) = list(DEVICES.items())[:2]


def rows_from(engine: Engine, host: str) -> Counter[str]:
    """Archive rows by outcome, of the connections from ``host``."""
    with engine.connect() as conn:
        rows = conn.execute(select(RawPacket.outcome, RawPacket.peer)).all()
    return Counter(outcome for outcome, peer in rows if peer.rsplit(":", 1)[0] == host)


def closed(gateway: Gateway, reason: str) -> int:
    return int(gateway.metrics.closed.labels(reason)._value.get())


def test_a_hung_database_does_not_hold_acks_behind_a_backfill_request_postgresql(
    postgres_engine: Engine, tmp_path: Path
) -> None:
    ids = register(postgres_engine)
    url = make_url(postgres_engine.url)

    async def scenario() -> None:
        proxy = Proxy(url.host or "127.0.0.1", url.port or 5432)
        proxied = url.set(port=await proxy.start()).render_as_string(hide_password=False)
        settings = settings_for(proxied, tmp_path, gateway_ack_deadline=0.5, gateway_spool_retry=0.2)
        gateway_engine = make_engine(proxied, statement_timeout=30)
        try:
            async with running(settings, gateway_engine) as (gateway, port):
                device = VirtualDevice(MN, PW, ack_timeout=2, retries=0)
                await device.connect("127.0.0.1", port)
                for minute in (0, 1, 2):  # the device's spacing: one minute
                    assert await device.send(minute_upload(MN, PW, device.next_qn(), minute)) is not None
                proxy.stall()
                started = time.monotonic()
                # minutes 3 and 4 are missing: the gateway asks for them, and the row of that
                # request waits for the hung database
                for minute in (5, 6, 7, 8):
                    assert await device.send(minute_upload(MN, PW, device.next_qn(), minute)) is not None, minute
                took = time.monotonic() - started
                assert took < 4, f"four acks took {took:.1f} s against a hung database"
                assert gateway.commander.outstanding(ids[MN], "2051")  # asked once, not once per packet
                assert not any(p.cn == "2051" for p in device.received)
                proxy.resume()
                # once its row is written, the request goes out
                await until(lambda: any(p.cn == "2051" and p.get("BeginTime") for p in device.received), timeout=20)
                await until(lambda: gateway.ingest.spooled == 0, timeout=20)
                await device.close()
        finally:
            gateway_engine.dispose()
            await proxy.stop()
        with postgres_engine.connect() as conn:
            ((cn, cp),) = conn.execute(select(PlatformCommand.cn, PlatformCommand.cp)).all()
        assert (cn, cp) == ("2051", "BeginTime=20261129100300;EndTime=20261129100400")

    run(scenario)


def test_a_database_error_after_an_accepted_packet_does_not_close_the_session(
    engine: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ids = register(engine)

    def down(self: Commander, row: object) -> int:
        raise OperationalError("INSERT INTO platform_command", {}, ConnectionRefusedError("the database is down"))

    monkeypatch.setattr(Commander, "_insert", down)

    async def scenario() -> None:
        async with running(settings_for(database_url, tmp_path), engine) as (gateway, port):
            device = VirtualDevice(MN, PW, ack_timeout=2, retries=0)
            await device.connect("127.0.0.1", port)
            for minute in (0, 1, 2, 5, 6, 7):  # 5: a gap, whose request cannot be recorded
                assert await device.send(minute_upload(MN, PW, device.next_qn(), minute)) is not None, minute
            await until(lambda: "could not be recorded" in caplog.text)
            assert not gateway.commander.outstanding(ids[MN])  # not sent, so not waited for
            assert len(gateway.sessions) == 1  # the same connection all along
            await device.close()

    with caplog.at_level(logging.INFO, logger="offsite.gateway"):
        run(scenario)


def test_a_trickle_of_line_feeds_is_closed_at_the_idle_timeout(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    register(engine)

    async def scenario() -> None:
        settings = settings_for(database_url, tmp_path, gateway_idle_timeout=0.5, gateway_auth_deadline=30.0)
        async with running(settings, engine) as (gateway, port):
            reader, writer = await connect(port)
            writer.write(encode(minute_upload(MN, PW, "20261129100000001")))
            assert await replies(reader, 1, 5) == ["20261129100000001"]

            async def trickle() -> None:
                with contextlib.suppress(ConnectionError, OSError):
                    while True:  # a separator every 0.1 s: five times within the idle timeout
                        writer.write(b"\n")
                        await writer.drain()
                        await asyncio.sleep(0.1)

            task = asyncio.create_task(trickle())
            started = asyncio.get_running_loop().time()
            assert await closed_by_peer(reader, 3)
            assert asyncio.get_running_loop().time() - started < 2
            task.cancel()
            writer.close()
            assert closed(gateway, "idle") == 1

    run(scenario)


def test_a_connection_without_an_accepted_packet_is_closed_at_the_auth_deadline(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    register(engine)

    async def scenario() -> None:
        settings = settings_for(database_url, tmp_path, gateway_auth_deadline=0.5, gateway_idle_timeout=30.0)
        async with running(settings, engine) as (gateway, port):
            device_reader, device_writer = await connect(port)
            device_writer.write(encode(minute_upload(MN, PW, "20261129100000001")))
            assert await replies(device_reader, 1, 5) == ["20261129100000001"]
            silent_reader, silent_writer = await connect(port)
            guessing_reader, guessing_writer = await connect(port)
            guessing_writer.write(encode(minute_upload(MN_B, "000000", "20261129100000002")))  # rejected
            started = asyncio.get_running_loop().time()
            assert await closed_by_peer(silent_reader, 3)
            assert await closed_by_peer(guessing_reader, 3)
            assert asyncio.get_running_loop().time() - started < 2
            assert closed(gateway, "unauthenticated") == 2
            # the device that sent its right password stays past the deadline
            device_writer.write(encode(minute_upload(MN, PW, "20261129100100003", 1)))
            assert await replies(device_reader, 1, 5) == ["20261129100100003"]
            for writer in (device_writer, silent_writer, guessing_writer):
                writer.close()

    run(scenario)


def test_at_the_cap_a_device_gets_in_by_evicting_an_unauthenticated_socket(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    register(engine)

    async def scenario() -> None:
        async with running(settings_for(database_url, tmp_path, gateway_max_connections=2), engine) as (gateway, port):
            reader_a, writer_a = await connect(port)
            writer_a.write(encode(minute_upload(MN, PW, "20261129100000001")))
            assert await replies(reader_a, 1, 5) == ["20261129100000001"]
            silent_reader, silent_writer = await connect(port, "127.0.0.2")
            await until(lambda: len(gateway.sessions) == 2)  # the cap
            reader_b, writer_b = await connect(port, "127.0.0.3")
            writer_b.write(encode(minute_upload(MN_B, PW_B, "20261129100000002")))
            assert await replies(reader_b, 1, 5) == ["20261129100000002"]
            assert await closed_by_peer(silent_reader, 2)
            assert closed(gateway, "evicted") == 1
            assert closed(gateway, "connection_cap") == 0
            writer_a.write(encode(minute_upload(MN, PW, "20261129100100003", 1)))  # never the accepted one
            assert await replies(reader_a, 1, 5) == ["20261129100100003"]
            # every connection now sent an accepted packet: a newcomer is refused
            late_reader, late_writer = await connect(port, "127.0.0.4")
            assert await closed_by_peer(late_reader, 2)
            assert closed(gateway, "connection_cap") == 1
            for writer in (writer_a, silent_writer, writer_b, late_writer):
                writer.close()

    run(scenario)


def test_a_connection_that_is_not_read_buffers_a_bounded_amount(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    register(engine)

    async def scenario() -> None:
        async with running(settings_for(database_url, tmp_path), engine) as (gateway, port):
            room = gateway.ingest._room
            room.clear()  # as if the archive's queue were full: sessions read nothing
            try:
                _, writer = await connect(port)
                await until(lambda: len(gateway.sessions) == 1)
                (session,) = gateway.sessions

                async def flood() -> None:
                    with contextlib.suppress(ConnectionError, OSError):
                        writer.write(b"\0" * 10_000_000)
                        await writer.drain()

                task = asyncio.create_task(flood())
                sizes = [-1]
                while len(sizes) < 5 or sizes[-1] != sizes[-5]:  # until it stops growing
                    await asyncio.sleep(0.05)
                    sizes.append(len(session.reader._buffer))
                # asyncio pauses the socket above twice the stream limit; one receive (256 KiB at
                # most) may land on top: the rest waits in the kernel's buffers, which it bounds
                assert 2 * 65536 < sizes[-1] <= 2 * 65536 + 256 * 1024, sizes[-1]
                task.cancel()
                writer.transport.abort()
            finally:
                room.set()

    run(scenario)


def test_reconnecting_junk_from_one_address_costs_a_bounded_number_of_rows(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    register(engine)
    junk = b"##\r\n" * 10  # ten bad_length faults a connection (its cap: 3 rejections)

    async def junk_client(port: int, host: str) -> None:
        reader, writer = await connect(port, host)
        with contextlib.suppress(ConnectionError, OSError):
            writer.write(junk)
        assert await closed_by_peer(reader, 5)
        writer.close()

    async def scenario() -> None:
        settings = settings_for(database_url, tmp_path, gateway_junk_per_address=4, gateway_junk_connections=3)
        async with running(settings, engine) as (gateway, port):
            for _ in range(20):
                await junk_client(port, "127.0.0.2")
            # the first three connections were judged; the address is then refused for a while
            assert closed(gateway, "rejections") == 3
            assert closed(gateway, "address_backoff") == 17
            await until(lambda: rows_from(engine, "127.0.0.2")["junk_summary"] == 3)
            # a real device from another address is unaffected
            reader, writer = await connect(port, "127.0.0.3")
            writer.write(encode(minute_upload(MN, PW, "20261129100000001")))
            assert await replies(reader, 1, 5) == ["20261129100000001"]
            # behind a carrier NAT: an address that sent an accepted packet is never refused
            nat_reader, nat_writer = await connect(port, "127.0.0.4")
            nat_writer.write(encode(minute_upload(MN_B, PW_B, "20261129100000002")))
            assert await replies(nat_reader, 1, 5) == ["20261129100000002"]
            for _ in range(5):
                await junk_client(port, "127.0.0.4")
            assert closed(gateway, "rejections") == 3 + 5
            assert closed(gateway, "address_backoff") == 17
            await until(lambda: rows_from(engine, "127.0.0.4")["junk_summary"] == 5)
            for w in (writer, nat_writer):
                w.close()

    run(scenario)
    # the budget, one by one; then one summary per connection until the address was refused
    assert rows_from(engine, "127.0.0.2") == {"bad_length": 4, "junk_summary": 3}
    assert rows_from(engine, "127.0.0.3") == {"ok": 1}
    assert rows_from(engine, "127.0.0.4") == {"ok": 1, "bad_length": 4, "junk_summary": 5}


def test_the_address_guard_budgets_junk_and_backs_off_junk_only_addresses() -> None:
    now = [0.0]
    guard = AddressGuard(budget=2, connections=2, window=60, backoff=10, backoff_max=25, clock=lambda: now[0])
    assert [guard.spend("10.0.0.1") for _ in range(3)] == [True, True, False]
    assert guard.spend("10.0.0.2")  # each address has its own budget
    now[0] += 60
    assert guard.spend("10.0.0.1")  # a new window, a new budget
    locks = []
    for _ in range(4):
        assert not guard.rejected_connection("10.0.0.1")
        assert guard.refusal("10.0.0.1") is None
        assert guard.rejected_connection("10.0.0.1")
        assert guard.refusal("10.0.0.1") is not None
        assert guard.refusal("10.0.0.2") is None
        start = now[0]
        while guard.refusal("10.0.0.1") is not None:
            now[0] += 1
        locks.append(now[0] - start)
    assert locks == [10, 20, 25, 25]  # doubled, up to the longest back-off
    # an address with an accepted packet in the window (carrier NAT) is never refused ...
    guard.accepted("10.0.0.3")
    for _ in range(5):
        assert not guard.rejected_connection("10.0.0.3")
    assert guard.refusal("10.0.0.3") is None
    # ... and an accepted packet lifts a back-off already running
    guard.rejected_connection("10.0.0.1")
    guard.rejected_connection("10.0.0.1")
    assert guard.refusal("10.0.0.1") is not None
    guard.accepted("10.0.0.1")
    assert guard.refusal("10.0.0.1") is None
    now[0] += 61  # the window of that accepted packet is over
    assert not guard.rejected_connection("10.0.0.3")
    assert guard.rejected_connection("10.0.0.3")
    assert guard.refusal("10.0.0.3") is not None
    # memory is bounded: the least recently seen addresses are forgotten first
    small = AddressGuard(budget=1, connections=2, window=60, backoff=10, backoff_max=25, clock=lambda: now[0], kept=3)
    for n in range(10):
        small.spend(f"10.1.0.{n}")
    assert len(small) == 3
    assert small.spend("10.1.0.0")  # forgotten, so a budget again
    assert not small.spend("10.1.0.9")
