"""A database that hangs (answers nothing, fails nothing) must not hold the devices' acks
(issue 13, point 4): past the ack deadline the gateway spools, and replays once it answers."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from sqlalchemy import Engine, select, text
from sqlalchemy.engine import make_url

from offsite.db import make_engine
from offsite.gateway.server import Gateway
from offsite.sim.device import VirtualDevice
from offsite.store.models import RawPacket
from offsite.store.verification import verify
from tests.gateway.helpers import DEVICES, minute_upload, register, run, running, settings_for, until
from tests.proxy import Proxy

MN, PW = next(iter(DEVICES.items()))


def archived_qns(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(RawPacket.qn)).scalars())


def test_a_stalled_postgresql_is_bridged_by_the_spool(postgres_engine: Engine, tmp_path: Path) -> None:
    register(postgres_engine)
    url = make_url(postgres_engine.url)

    async def scenario() -> None:
        proxy = Proxy(url.host or "127.0.0.1", url.port or 5432)
        proxied = url.set(port=await proxy.start()).render_as_string(hide_password=False)
        settings = settings_for(proxied, tmp_path, gateway_ack_deadline=0.5, gateway_spool_retry=0.2)
        gateway_engine = make_engine(proxied, statement_timeout=30)
        try:
            async with running(settings, gateway_engine) as (gateway, port):
                device = VirtualDevice(MN, PW, ack_timeout=5, retries=0)
                await device.connect("127.0.0.1", port)
                qns = [device.next_qn() for _ in range(4)]
                assert await device.send(minute_upload(MN, PW, qns[0], 0)) is not None
                proxy.stall()
                started = time.monotonic()
                for minute in (1, 2, 3):
                    assert await device.send(minute_upload(MN, PW, qns[minute], minute)) is not None
                took = time.monotonic() - started
                assert took < 4.5, f"three acks took {took:.1f} s against a hung database"
                assert gateway.ingest.spooled >= 2
                assert gateway.metrics.overdue._value.get() == 1
                proxy.resume()
                await until(lambda: gateway.ingest.spooled == 0, timeout=20)
                await until(lambda: archived_qns(postgres_engine) >= set(qns), timeout=20)
                await device.close()
        finally:
            gateway_engine.dispose()
            await proxy.stop()
        assert verify(postgres_engine).ok
        with postgres_engine.connect() as conn:
            stored = list(conn.execute(select(RawPacket.qn)).scalars())
        assert sorted(stored) == sorted(qns)  # the overdue write committed at last: nothing archived twice

    run(scenario)


def test_a_locked_sqlite_database_is_bridged_by_the_spool(tmp_path: Path) -> None:
    from offsite.db.schema import upgrade

    url = f"sqlite:///{tmp_path / 'locked.db'}"
    upgrade(url)
    engine = make_engine(url)
    register(engine)
    settings = settings_for(url, tmp_path, gateway_ack_deadline=5.0, gateway_statement_timeout=0.3)

    async def scenario() -> None:
        gateway_engine = make_engine(url, statement_timeout=settings.gateway_statement_timeout)
        async with running(settings, gateway_engine) as (gateway, port):
            device = VirtualDevice(MN, PW, ack_timeout=5, retries=0)
            await device.connect("127.0.0.1", port)
            holder = engine.connect()
            holder.execute(text("BEGIN IMMEDIATE"))  # another process holds the write lock
            try:
                qn = device.next_qn()
                assert await asyncio.wait_for(device.send(minute_upload(MN, PW, qn)), 3) is not None
                assert gateway.ingest.spooled == 1
            finally:
                holder.execute(text("ROLLBACK"))
                holder.close()
            await until(lambda: gateway.ingest.spooled == 0, timeout=10)
            await device.close()
        gateway_engine.dispose()

    run(scenario)
    assert len(archived_qns(engine)) == 1
    engine.dispose()


def test_the_gateway_stops_while_postgresql_hangs(postgres_engine: Engine, tmp_path: Path) -> None:
    """Before, stop() waited for ever on a projection or a presence write the database never answered."""
    register(postgres_engine)
    url = make_url(postgres_engine.url)

    async def scenario() -> None:
        proxy = Proxy(url.host or "127.0.0.1", url.port or 5432)
        proxied = url.set(port=await proxy.start()).render_as_string(hide_password=False)
        settings = settings_for(proxied, tmp_path, gateway_ack_deadline=0.5)
        gateway_engine = make_engine(proxied)
        gateway = Gateway(settings, gateway_engine)
        _, port = await gateway.start()
        try:
            device = VirtualDevice(MN, PW, ack_timeout=5, retries=0)
            await device.connect("127.0.0.1", port)
            assert await device.send(minute_upload(MN, PW, device.next_qn(), 0)) is not None
            proxy.stall()
            assert await device.send(minute_upload(MN, PW, device.next_qn(), 1)) is not None  # from the spool
            await device.close()
            started = time.monotonic()
            await gateway.stop(grace=1.0)
            assert time.monotonic() - started < 10
        finally:
            proxy.resume()  # the threads still waiting on the database may finish now
            await proxy.stop()
            gateway_engine.dispose()

    run(scenario)
