"""The database goes away: packets are spooled (fsynced) and acknowledged, then replayed in order."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url

from offsite.db import make_engine
from offsite.sim.device import VirtualDevice
from offsite.store.models import IntervalValue, RawPacket
from offsite.store.verification import verify
from tests.gateway.helpers import DEVICES, minute_upload, register, run, running, settings_for, until
from tests.proxy import Proxy

MN, PW = next(iter(DEVICES.items()))


def archived_qns(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(RawPacket.qn).order_by(RawPacket.writer, RawPacket.seq)).scalars())


def test_an_outage_is_bridged_by_the_spool_on_postgresql(postgres_engine: Engine, tmp_path: Path) -> None:
    register(postgres_engine)
    url = make_url(postgres_engine.url)

    async def scenario() -> None:
        proxy = Proxy(url.host or "127.0.0.1", url.port or 5432)
        port = await proxy.start()
        proxied = url.set(port=port).render_as_string(hide_password=False)
        gateway_engine = make_engine(proxied)
        settings = settings_for(proxied, tmp_path, gateway_spool_retry=0.2)
        try:
            async with running(settings, gateway_engine) as (gateway, gw_port):
                device = VirtualDevice(MN, PW, ack_timeout=10)
                await device.connect("127.0.0.1", gw_port)
                qns = [device.next_qn() for _ in range(5)]
                assert await device.send(minute_upload(MN, PW, qns[0], 0)) is not None
                proxy.cut()
                for minute in (1, 2, 3):  # acknowledged although the database is away: they are spooled
                    assert await device.send(minute_upload(MN, PW, qns[minute], minute)) is not None
                assert gateway.ingest.spooled == 3
                assert archived_qns(postgres_engine) == [qns[0]]
                proxy.restore()
                assert await device.send(minute_upload(MN, PW, qns[4], 4)) is not None
                await until(lambda: gateway.ingest.spooled == 0, timeout=15)
                await until(lambda: len(archived_qns(postgres_engine)) == 5, timeout=15)
                await device.close()
        finally:
            gateway_engine.dispose()
            await proxy.stop()
        assert archived_qns(postgres_engine) == qns  # in the order they were received
        with postgres_engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(IntervalValue)) == 10
        assert not (tmp_path / "spool" / "spool.bin").exists()
        assert verify(postgres_engine).ok

    run(scenario)


def test_a_resend_is_archived_but_creates_no_duplicate_values(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    register(engine)

    async def scenario() -> None:
        async with running(settings_for(database_url, tmp_path), engine) as (_, port):
            device = VirtualDevice(MN, PW, ack_timeout=5)
            await device.connect("127.0.0.1", port)
            packet = minute_upload(MN, PW, device.next_qn())
            assert await device.send(packet) is not None
            assert await device.send(packet) is not None  # the logger did not see the first ack
            await until(lambda: len(archived_qns(engine)) == 2)
            await device.close()

    run(scenario)
    assert archived_qns(engine) == [archived_qns(engine)[0]] * 2
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(IntervalValue)) == 2
