"""The gateway against hostile peers: guessing, junk floods, unencodable replies, trickles, non-readers."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, func, select

from offsite.gateway.guard import PasswordGuard
from offsite.gateway.models import PlatformCommand
from offsite.gateway.session import FEED_SIZE
from offsite.hj212 import encode
from offsite.hj212.crc import CrcVariant, crc_of, crc_text
from offsite.hj212.decoder import Decoder
from offsite.hj212.packet import Decoded
from offsite.hj212.requests import Target, set_time
from offsite.sim.device import VirtualDevice
from offsite.sim.logger import Logger
from offsite.store.models import RawPacket
from tests.gateway.helpers import DEVICES, minute_upload, register, run, running, settings_for, until

(MN, PW), (MN_B, PW_B) = list(DEVICES.items())[:2]


def outcomes(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(select(RawPacket.outcome, func.count()).group_by(RawPacket.outcome)).all())  # type: ignore[arg-type]


def summaries(engine: Engine) -> list[RawPacket]:
    with engine.connect() as conn:
        return list(conn.execute(select(RawPacket.error, RawPacket.data).where(RawPacket.outcome == "junk_summary")))  # type: ignore[arg-type]


async def connect(
    port: int, host: str = "127.0.0.1", rcvbuf: int | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.bind((host, 0))
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return await asyncio.open_connection(sock=sock)


async def closed_by_peer(reader: asyncio.StreamReader, timeout: float) -> bool:
    """Whether the gateway closes the connection within ``timeout`` (whatever it sends first)."""
    try:
        async with asyncio.timeout(timeout):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return False
    except (ConnectionError, OSError):
        pass
    return True


async def replies(reader: asyncio.StreamReader, n: int, timeout: float) -> list[str]:
    """The QNs the gateway answers, until ``n`` came or ``timeout`` passed."""
    decoder, qns = Decoder(), []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            while len(qns) < n:
                data = await reader.read(65536)
                if not data:
                    break
                qns += [item.packet.qn for item in decoder.feed(data) if isinstance(item, Decoded)]
    return qns


def frame(segment: str) -> bytes:
    data = segment.encode()
    return b"##%04d" % len(data) + data + crc_text(crc_of(data, CrcVariant.HJ212)).encode() + b"\r\n"


def test_one_write_of_guesses_is_judged_only_up_to_the_cap(engine: Engine, database_url: str, tmp_path: Path) -> None:
    register(engine)

    async def scenario() -> int:
        async with running(settings_for(database_url, tmp_path), engine) as (gateway, port):  # cap: 3 rejections
            reader, writer = await connect(port)
            writer.write(b"".join(encode(minute_upload(MN, f"{n:06d}", f"20261129100000{n:03d}")) for n in range(400)))
            assert await closed_by_peer(reader, 5)
            writer.close()
            # the rest of what was read is summed up, unjudged; what was not yet read is never read
            return int(gateway.metrics.unarchived._value.get())

    unjudged = run(scenario)
    assert 0 < unjudged <= 397
    assert outcomes(engine) == {"bad_password": 3, "junk_summary": 1}
    ((error, data),) = summaries(engine)
    assert error.startswith(f"{unjudged} frames (")
    assert f"not_judged {unjudged}" in error
    assert f"'{MN}'" in error
    assert data.startswith(b"##")
    assert len(data) == 512


def test_a_junk_flood_costs_a_bounded_number_of_rows(engine: Engine, database_url: str, tmp_path: Path) -> None:
    register(engine)
    junk = b"##\r\n" * 15_000  # 60 kB: 15,000 faults
    faults = Decoder().feed(junk)
    assert len(faults) == 15_000

    async def scenario() -> None:
        settings = settings_for(database_url, tmp_path, gateway_max_rejections=50, gateway_junk_archived=2)
        async with running(settings, engine) as (_, port):
            reader, writer = await connect(port)
            writer.write(junk)
            assert await closed_by_peer(reader, 5)
            writer.close()
            # a logger that sends a little noise now and then: its first faults are archived, the
            # rest summed up once it goes away
            reader, writer = await connect(port)
            for _ in range(5):
                writer.write(b"AT+CSQ\r\n##\r\n")
                await writer.drain()
                await asyncio.sleep(0.02)
            writer.write(encode(minute_upload(MN, PW, "20261129100000001")))
            assert await replies(reader, 1, 5) == ["20261129100000001"]
            writer.close()
            await until(lambda: len(summaries(engine)) == 2)

    run(scenario)
    assert outcomes(engine) == {"bad_length": 3, "no_header": 1, "ok": 1, "junk_summary": 2}
    flood, noise = sorted(summaries(engine), key=lambda r: -len(r.error))
    expected = hashlib.sha256(b"".join(f.raw for f in faults[2:])).hexdigest()
    # one slice of the read was split into frames; the rest past the cap was only hashed and counted
    parsed = FEED_SIZE // 4 - 2
    assert flood.error.startswith(f"{parsed} frames ({len(junk) - 8} bytes)")
    assert f"not_judged {parsed - 48}, bad_length 48" in flood.error
    assert f"the last {len(junk) - FEED_SIZE} bytes not even split into frames" in flood.error
    assert expected in flood.error  # the hash still covers every byte, in order
    assert flood.data == junk[8 : 8 + 512]
    assert noise.error.startswith("8 frames (")
    assert "no_header 4, bad_length 4" in noise.error


def test_guessing_is_throttled_across_connections_but_not_the_device(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    register(engine)
    settings = settings_for(
        database_url,
        tmp_path,
        gateway_password_attempts=3,
        gateway_password_attempts_per_mn=6,
        gateway_password_backoff=30.0,
    )
    qn = iter(range(100, 1000))

    async def attempt(port: int, host: str, pw: str, outcome: str) -> bool:
        """One packet on a new connection from ``host``; whether it was acknowledged."""
        before = outcomes(engine).get(outcome, 0)
        reader, writer = await connect(port, host)
        packet = minute_upload(MN, pw, f"20261129100000{next(qn)}")
        writer.write(encode(packet))
        await until(lambda: outcomes(engine).get(outcome, 0) == before + 1)
        acked = await replies(reader, 1, 0.2) == [packet.qn]
        writer.close()
        return acked

    async def scenario() -> None:
        async with running(settings, engine) as (_, port):
            assert await attempt(port, "127.0.0.3", PW, "ok")  # the device, behind its carrier address
            for _ in range(3):  # one guess per connection, from one address
                assert not await attempt(port, "127.0.0.2", "000000", "bad_password")
            # that (MN, address) is backed off: even the right password is not compared
            assert not await attempt(port, "127.0.0.2", PW, "password_locked")
            assert await attempt(port, "127.0.0.3", PW, "ok")  # the device is not
            for host in ("127.0.0.4", "127.0.0.5", "127.0.0.6"):  # guessing spread over addresses
                assert not await attempt(port, host, "000000", "bad_password")
            # six wrong passwords in all: the MN is backed off, except where the device reported from
            assert not await attempt(port, "127.0.0.7", PW, "password_locked")
            assert await attempt(port, "127.0.0.3", PW, "ok")

    run(scenario)
    assert outcomes(engine) == {"ok": 3, "bad_password": 6, "password_locked": 2}


def test_the_guard_backs_off_exponentially_and_forgets_after_a_quiet_window() -> None:
    now = [0.0]
    guard = PasswordGuard(
        attempts=2, attempts_per_mn=100, window=60, backoff=10, backoff_max=25, trust=100, clock=lambda: now[0]
    )
    locks = []
    for _ in range(4):
        guard.failed(MN, "10.0.0.1")
        assert guard.refusal(MN, "10.0.0.1") is None
        guard.failed(MN, "10.0.0.1")
        refusal = guard.refusal(MN, "10.0.0.1")
        assert refusal is not None
        assert "not compared" in refusal
        assert guard.refusal(MN, "10.0.0.2") is None  # another address, same MN: still compared
        assert guard.refusal(MN_B, "10.0.0.1") is None  # another MN, same address: likewise
        start = now[0]
        while guard.refusal(MN, "10.0.0.1") is not None:
            now[0] += 1
        locks.append(now[0] - start)
    assert locks == [10, 20, 25, 25]  # doubled, up to the longest back-off
    now[0] += 61  # a quiet window: the next lock is short again
    guard.failed(MN, "10.0.0.1")
    guard.failed(MN, "10.0.0.1")
    now[0] += 10
    assert guard.refusal(MN, "10.0.0.1") is None
    # the MN as a whole: addresses that sent its right password lately are still compared
    whole = PasswordGuard(
        attempts=100, attempts_per_mn=3, window=60, backoff=10, backoff_max=25, trust=100, clock=lambda: now[0]
    )
    whole.succeeded(MN, "10.0.0.9")
    for host in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        whole.failed(MN, host)
    assert whole.refusal(MN, "10.0.0.4") is not None
    assert whole.refusal(MN, "10.0.0.9") is None
    now[0] += 101  # trust runs out
    whole.failed(MN, "10.0.0.1")
    whole.failed(MN, "10.0.0.2")
    whole.failed(MN, "10.0.0.3")
    assert whole.refusal(MN, "10.0.0.9") is not None


def test_a_reply_that_cannot_be_encoded_leaves_the_packet_archived_and_the_read_answered(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    register(engine)
    odd = frame(
        f"QN=2026&11#29,1;ST=31;CN=2051;PW={PW};MN={MN};Flag=5;"
        "CP=&&DataTime=20261129100100;a21026-Avg=35.5,a21026-Flag=N&&"
    )
    first = encode(minute_upload(MN, PW, "20261129100000001", 0))
    last = encode(minute_upload(MN, PW, "20261129100200003", 2))

    async def scenario() -> None:
        async with running(settings_for(database_url, tmp_path), engine) as (gateway, port):
            reader, writer = await connect(port)
            writer.write(first + odd + last)
            assert await replies(reader, 2, 5) == ["20261129100000001", "20261129100200003"]
            assert gateway.metrics.unreplied._value.get() == 1
            writer.close()

    run(scenario)
    with engine.connect() as conn:
        rows = conn.execute(select(RawPacket.outcome, RawPacket.data).order_by(RawPacket.id)).all()
    assert [(r.outcome, r.data) for r in rows] == [("ok", first), ("ok", odd), ("ok", last)]


def test_a_trickled_frame_is_cut_off_at_its_deadline(engine: Engine, database_url: str, tmp_path: Path) -> None:
    register(engine)
    packet = encode(minute_upload(MN, PW, "20261129100000001"))

    async def scenario() -> None:
        settings = settings_for(database_url, tmp_path, gateway_frame_deadline=0.5, gateway_idle_timeout=30.0)
        async with running(settings, engine) as (gateway, port):
            reader, writer = await connect(port)

            async def trickle() -> None:
                with contextlib.suppress(ConnectionError, OSError):
                    for byte in packet:  # one byte every 0.1 s: ten times slower than the deadline allows
                        writer.write(bytes([byte]))
                        await writer.drain()
                        await asyncio.sleep(0.1)

            task = asyncio.create_task(trickle())
            started = asyncio.get_running_loop().time()
            assert await closed_by_peer(reader, 5)
            assert asyncio.get_running_loop().time() - started < 2
            task.cancel()
            writer.close()
            assert gateway.metrics.closed.labels("frame_deadline")._value.get() == 1
            await until(lambda: outcomes(engine) == {"truncated": 1})  # what came is on the record

    run(scenario)


def test_a_peer_that_does_not_read_stalls_no_one(engine: Engine, database_url: str, tmp_path: Path) -> None:
    ids = register(engine)

    async def scenario() -> None:
        settings = settings_for(
            database_url, tmp_path, gateway_write_timeout=0.5, gateway_send_buffer=2**26, gateway_reply_timeout=0.3
        )
        async with running(settings, engine) as (gateway, port):
            _, stuck_writer = await connect(port, rcvbuf=4096)  # device A: never reads
            stuck_writer.write(encode(minute_upload(MN, PW, "20261129100000001")))
            await until(lambda: any(MN in s.mns for s in gateway.sessions))
            stuck = next(s for s in gateway.sessions if MN in s.mns)
            device = VirtualDevice(MN_B, PW_B, ack_timeout=5, on_request=Logger())
            await device.connect("127.0.0.1", port)
            assert await device.send(minute_upload(MN_B, PW_B, device.next_qn())) is not None
            other = next(s for s in gateway.sessions if MN_B in s.mns)

            # as if acks had piled up: more than the kernel's buffers hold for a peer that does not read
            stuck.writer.write(b"\0" * 8_000_000)
            now = datetime.now(UTC)
            request = set_time(Target(MN, PW, "31"), gateway.next_qn(), now)
            await asyncio.wait_for(gateway.commander.send(stuck, ids[MN], request, "test"), 0.2)  # does not wait
            request = set_time(Target(MN_B, PW_B, "31"), gateway.next_qn(), now)
            await asyncio.wait_for(gateway.commander.send(other, ids[MN_B], request, "test"), 0.2)
            await until(lambda: _states(engine) == {ids[MN]: "timeout", ids[MN_B]: "done"})
            assert stuck.closed
            assert gateway.metrics.closed.labels("write_timeout")._value.get() == 1
            assert not other.closed
            await device.close()
            stuck_writer.close()

    run(scenario)


def test_a_send_buffer_that_overflows_closes_the_peer(engine: Engine, database_url: str, tmp_path: Path) -> None:
    register(engine)

    async def scenario() -> None:
        settings = settings_for(database_url, tmp_path, gateway_send_buffer=100_000)
        async with running(settings, engine) as (gateway, port):
            _, writer = await connect(port, rcvbuf=4096)
            writer.write(encode(minute_upload(MN, PW, "20261129100000001")))
            await until(lambda: any(MN in s.mns for s in gateway.sessions))
            session = next(s for s in gateway.sessions if MN in s.mns)
            assert not session.send(b"\0" * 8_000_000)
            assert session.closed
            assert not session.send(b"more")
            assert gateway.metrics.closed.labels("send_overflow")._value.get() == 1
            await until(lambda: not gateway.sessions)
            writer.close()

    run(scenario)


def test_connections_beyond_the_cap_are_closed_at_once(engine: Engine, database_url: str, tmp_path: Path) -> None:
    register(engine)

    async def scenario() -> None:
        async with running(settings_for(database_url, tmp_path, gateway_max_connections=2), engine) as (gateway, port):
            held = [await connect(port), await connect(port)]
            for n, ((held_reader, held_writer), (mn, pw)) in enumerate(
                zip(held, [(MN, PW), (MN_B, PW_B)], strict=True)
            ):
                qn = f"2026112910000000{n}"  # both devices accepted: no connection to make room
                held_writer.write(encode(minute_upload(mn, pw, qn)))
                assert await replies(held_reader, 1, 5) == [qn]
            reader, writer = await connect(port, "127.0.0.2")
            assert await closed_by_peer(reader, 2)
            assert gateway.metrics.closed.labels("connection_cap")._value.get() == 1
            for _, held_writer in held:
                held_writer.close()
            await until(lambda: not gateway.sessions)
            reader, writer = await connect(port)  # room again
            writer.write(encode(minute_upload(MN, PW, "20261129100000001")))
            assert await replies(reader, 1, 5) == ["20261129100000001"]
            writer.close()

    run(scenario)


def _states(engine: Engine) -> dict[int, str]:
    with engine.connect() as conn:
        return dict(conn.execute(select(PlatformCommand.device_id, PlatformCommand.state)).all())  # type: ignore[arg-type]


def test_a_restarted_gateway_still_trusts_a_device_s_last_address(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    """The trust a device's address earned lives in the database (its presence), not only in memory:
    after a restart, guessing from elsewhere that backs the MN off does not lock out its own address."""
    register(engine)
    settings = settings_for(database_url, tmp_path, gateway_password_attempts_per_mn=3, gateway_password_attempts=100)

    async def scenario() -> None:
        async with running(settings, engine) as (_, port):
            device = VirtualDevice(MN, PW, ack_timeout=5)
            await device.connect("127.0.0.1", port)
            assert await device.send(minute_upload(MN, PW, device.next_qn())) is not None
            await device.close()
        async with running(settings, engine) as (gateway, _):
            for host in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
                gateway.guard.failed(MN, host)
            assert gateway.guard.refusal(MN, "10.0.0.4") is not None  # the MN is backed off …
            assert gateway.guard.refusal(MN, "127.0.0.1") is None  # … but not for the device's own address

    run(scenario)
