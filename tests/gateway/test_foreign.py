"""A chain someone else wrote to is never chained on nor signed: the gateway spools and says so."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, func, select

from offsite.sim.device import VirtualDevice
from offsite.store.models import ArchiveCheckpoint, RawPacket
from tests.gateway.helpers import DEVICES, minute_upload, register, run, running, settings_for
from tests.store.test_headstate import forge_next

MN, PW = next(iter(DEVICES.items()))


def test_a_forged_record_sends_the_gateway_to_its_spool(engine: Engine, database_url: str, tmp_path: Path) -> None:
    register(engine)
    settings = settings_for(database_url, tmp_path, archive_checkpoint_every=4)

    async def scenario() -> None:
        async with running(settings, engine) as (gateway, port):
            device = VirtualDevice(MN, PW, ack_timeout=5)
            await device.connect("127.0.0.1", port)
            assert await device.send(minute_upload(MN, PW, device.next_qn(), 0)) is not None
            forge_next(engine, settings.archive_writer)
            for minute in (1, 2, 3, 4, 5):  # still acknowledged: from the spool
                assert await device.send(minute_upload(MN, PW, device.next_qn(), minute)) is not None
            assert gateway.ingest.spooled == 5
            assert gateway.metrics.tampered._value.get() >= 1
            await device.close()
        async with running(settings, engine) as (gateway, _):  # a restart does not adopt it either
            assert gateway.ingest.spooled == 5

    run(scenario)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(RawPacket)) == 2  # ours, and the forged one
        assert conn.scalar(select(func.count()).select_from(ArchiveCheckpoint)) == 0  # nothing signed over it
