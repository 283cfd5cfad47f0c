"""kill -9 loses no acknowledged packet; two gateways share one database; metrics are served."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from sqlalchemy import Engine, select

from offsite.sim.device import VirtualDevice
from offsite.store.models import RawPacket
from offsite.store.verification import verify
from tests.gateway.helpers import DEVICES, KEY, minute_upload, register, run, running, settings_for

MN, PW = next(iter(DEVICES.items()))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_kill_9_mid_load_loses_no_acknowledged_packet(engine: Engine, database_url: str, tmp_path: Path) -> None:
    register(engine)
    port = free_port()
    env = dict(
        os.environ,
        OFFSITE_DATABASE_URL=database_url,
        OFFSITE_SECRET_KEY=KEY,
        OFFSITE_GATEWAY_PORT=str(port),
        OFFSITE_DATA_DIR=str(tmp_path / "data"),
        OFFSITE_ARCHIVE_WRITER="gw-killed",
        OFFSITE_GATEWAY_BATCH_WAIT="0.005",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "offsite", "gateway"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    acked: list[str] = []

    async def load() -> None:
        for _ in range(100):  # wait for the gateway to listen
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.1)
        devices = [VirtualDevice(MN, PW, ack_timeout=2, retries=0) for _ in range(20)]
        for device in devices:
            await device.connect("127.0.0.1", port)

        async def pump(device: VirtualDevice, offset: int) -> None:
            for minute in range(10_000):
                packet = minute_upload(MN, PW, f"{20261129000000000 + offset * 100_000 + minute}", minute % 60)
                try:
                    if await device.send(packet) is None:
                        return
                except (ConnectionError, OSError):
                    return
                assert packet.qn is not None
                acked.append(packet.qn)

        pumps = [asyncio.create_task(pump(d, i)) for i, d in enumerate(devices)]
        while len(acked) < 300:
            await asyncio.sleep(0.01)
        process.send_signal(signal.SIGKILL)  # mid-load: packets are in flight on every connection
        await asyncio.wait(pumps, timeout=10)
        for device in devices:
            await device.close()

    try:
        run(load)
    finally:
        process.kill()
        process.wait(10)
    with engine.connect() as conn:
        stored = set(conn.execute(select(RawPacket.qn).where(RawPacket.outcome == "ok")).scalars())
    missing = [qn for qn in acked if qn not in stored]
    assert len(acked) >= 300
    assert missing == [], f"{len(missing)} acknowledged packets are not in the archive"
    assert verify(engine).ok


def test_two_gateways_on_one_database_keep_separate_chains(engine: Engine, database_url: str, tmp_path: Path) -> None:
    register(engine)

    async def scenario() -> None:
        one = settings_for(database_url, tmp_path / "a", archive_writer="gw-a")
        two = settings_for(database_url, tmp_path / "b", archive_writer="gw-b")
        async with running(one, engine) as (_, port_a), running(two, engine) as (_, port_b):
            devices = [VirtualDevice(MN, PW, ack_timeout=5) for _ in range(4)]
            for i, device in enumerate(devices):
                await device.connect("127.0.0.1", port_a if i % 2 else port_b)

            async def pump(device: VirtualDevice, offset: int) -> None:
                for minute in range(25):
                    qn = f"{20261129000000000 + offset * 1000 + minute}"
                    assert await device.send(minute_upload(MN, PW, qn, minute)) is not None

            await asyncio.gather(*(pump(d, i) for i, d in enumerate(devices)))
            for device in devices:
                await device.close()

    run(scenario)
    with engine.connect() as conn:
        rows = conn.execute(select(RawPacket.writer, RawPacket.qn)).all()
    assert {w for w, _ in rows} == {"gw-a", "gw-b"}
    assert len(rows) == len({qn for _, qn in rows}) == 100  # nothing written twice
    result = verify(engine)
    assert result.ok
    assert result.chains == 2


def test_metrics_are_served(engine: Engine, database_url: str, tmp_path: Path) -> None:
    register(engine)
    metrics_port = free_port()

    async def scenario() -> None:
        settings = settings_for(database_url, tmp_path, gateway_metrics_port=metrics_port)
        async with running(settings, engine) as (_, port):
            device = VirtualDevice(MN, PW, ack_timeout=5)
            await device.connect("127.0.0.1", port)
            assert await device.send(minute_upload(MN, PW, device.next_qn())) is not None
            text = await asyncio.to_thread(
                lambda: urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
            )
            await device.close()
        assert 'offsite_gateway_packets_total{outcome="ok"} 1.0' in text
        assert "offsite_gateway_connections 1.0" in text
        assert "offsite_gateway_ack_latency_seconds_count 1.0" in text
        assert "offsite_gateway_spool_depth 0.0" in text

    run(scenario)
