"""Starting the gateway: a wrong key stops it with a clear error, a database that does not answer
does not, and a spool holding acknowledged packets is never silently left behind (issue 13)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine, select, update
from sqlalchemy.engine import make_url

from offsite.db import make_engine
from offsite.gateway import server
from offsite.gateway.models import ArchiveWriter
from offsite.gateway.server import Gateway
from offsite.gateway.spool import Spool, Spooled
from offsite.gateway.writers import SpoolElsewhere, legacy_spool, orphaned_spools, settled_writer
from offsite.registry.models import Device
from offsite.registry.passwords import PasswordKeyError, encrypt
from offsite.settings import Settings
from offsite.sim.device import VirtualDevice
from offsite.store.archive import Incoming
from offsite.store.models import RawPacket
from tests.gateway.helpers import DEVICES, minute_upload, register, run, running, settings_for, until, utcnow
from tests.proxy import Proxy

(MN, PW), (MN2, PW2) = list(DEVICES.items())[:2]


def outcomes(engine: Engine) -> list[tuple[str | None, str]]:
    with engine.connect() as conn:
        return [(r.mn, r.outcome) for r in conn.execute(select(RawPacket.mn, RawPacket.outcome).order_by(RawPacket.id))]


def test_a_wrong_key_stops_the_gateway_at_start(engine: Engine, database_url: str, tmp_path: Path) -> None:
    register(engine)
    settings = settings_for(database_url, tmp_path, secret_key=Fernet.generate_key().decode())

    async def scenario() -> None:
        gateway = Gateway(settings, engine)
        with pytest.raises(PasswordKeyError, match=r"not one of the 3 active devices' passwords opens with this key"):
            await gateway.start()

    run(scenario)


def test_one_password_the_key_cannot_open_rejects_that_device_alone(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    register(engine)
    with engine.begin() as conn:  # encrypted under some other key
        conn.execute(
            update(Device).where(Device.mn == MN2).values(password_enc=encrypt(Fernet(Fernet.generate_key()), PW2))
        )

    async def scenario() -> None:
        async with running(settings_for(database_url, tmp_path), engine) as (gateway, port):
            assert gateway.directory.unreadable == {MN2}
            good, bad = VirtualDevice(MN, PW, ack_timeout=3), VirtualDevice(MN2, PW2, ack_timeout=0.5)
            await good.connect("127.0.0.1", port)
            await bad.connect("127.0.0.1", port)
            assert await good.send(minute_upload(MN, PW, good.next_qn())) is not None
            assert await bad.send(minute_upload(MN2, PW2, bad.next_qn())) is None
            await until(lambda: len(outcomes(engine)) >= 2)
            await good.close()
            await bad.close()

    run(scenario)
    assert set(outcomes(engine)) == {(MN, "ok"), (MN2, "key_error")}


def test_the_gateway_starts_while_postgresql_is_away_and_spools(postgres_engine: Engine, tmp_path: Path) -> None:
    register(postgres_engine)
    url = make_url(postgres_engine.url)

    async def scenario() -> None:
        proxy = Proxy(url.host or "127.0.0.1", url.port or 5432)
        proxied = url.set(port=await proxy.start()).render_as_string(hide_password=False)
        settings = settings_for(proxied, tmp_path, gateway_spool_retry=0.2)
        gateway_engine = make_engine(proxied)
        try:
            async with running(settings, gateway_engine):  # a first run leaves its snapshot of the registry
                pass
            proxy.cut()
            async with running(settings, gateway_engine) as (gateway, port):
                device = VirtualDevice(MN, PW, ack_timeout=10)
                await device.connect("127.0.0.1", port)
                assert await device.send(minute_upload(MN, PW, device.next_qn())) is not None
                assert gateway.ingest.spooled == 1
                assert outcomes(postgres_engine) == []
                proxy.restore()
                await until(lambda: gateway.ingest.spooled == 0, timeout=15)
                await device.close()
        finally:
            gateway_engine.dispose()
            await proxy.stop()
        assert outcomes(postgres_engine) == [(MN, "ok")]

    run(scenario)


def test_a_spool_left_with_packets_in_another_directory_is_refused(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    register(engine)
    first = settings_for(database_url, tmp_path / "a")
    second = settings_for(database_url, tmp_path / "b")
    assert first.gateway_spool_dir is not None
    assert second.gateway_spool_dir is not None

    async def scenario() -> None:
        async with running(first, engine):
            pass
        Spool(first.gateway_spool_dir).append(  # as if acknowledged during an outage, then the gateway moved
            [Spooled(Incoming(b"##0000", "127.0.0.1:1", utcnow(), "ok", None, MN), 1)]
        )
        gateway = Gateway(second, engine)
        with pytest.raises(
            SpoolElsewhere, match=f"acknowledged packets waiting in its spool at {first.gateway_spool_dir}"
        ):
            await gateway.start()
        async with running(first, engine) as (gw, _):  # started where the spool is, it replays it
            await until(lambda: gw.ingest.spooled == 0)

    run(scenario)
    with engine.connect() as conn:
        assert conn.scalar(select(ArchiveWriter.spool_dir)) == str(first.gateway_spool_dir)
    assert outcomes(engine) == [(MN, "ok")]


def test_two_gateways_cannot_share_one_spool(engine: Engine, database_url: str, tmp_path: Path) -> None:
    register(engine)
    settings = settings_for(database_url, tmp_path)

    async def scenario() -> None:
        async with running(settings, engine):
            with pytest.raises(SpoolElsewhere, match="another gateway already uses the spool"):
                await Gateway(settings, engine).start()

    run(scenario)


def test_a_second_gateway_on_the_same_chain_is_refused_even_before_any_spooling(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    register(engine)

    async def scenario() -> None:
        async with running(settings_for(database_url, tmp_path / "a"), engine):
            other = Gateway(settings_for(database_url, tmp_path / "b"), engine)
            with pytest.raises(SpoolElsewhere, match="is running with its spool at"):
                await other.start()

    run(scenario)


def test_the_chain_name_stays_with_the_data_directory(tmp_path: Path) -> None:
    here = Settings(data_dir=tmp_path)  # the host name, by default
    assert settled_writer(here).archive_writer == here.archive_writer
    assert (tmp_path / "archive-writer").read_text().strip() == here.archive_writer  # recorded at first start
    (tmp_path / "archive-writer").write_text("old-host\n")  # as recorded under the host's former name
    assert settled_writer(Settings(data_dir=tmp_path)).archive_writer == "old-host"
    assert settled_writer(Settings(data_dir=tmp_path, archive_writer="gw-2")).archive_writer == "gw-2"
    (tmp_path / "archive-writer").write_text("../../etc\n")
    with pytest.raises(SpoolElsewhere, match="does not hold a chain name"):
        settled_writer(Settings(data_dir=tmp_path))


def test_another_chains_spool_holding_packets_is_never_left_behind(tmp_path: Path) -> None:
    orphan = tmp_path / "spool" / "old-host"
    Spool(orphan).append([Spooled(Incoming(b"##0000", "127.0.0.1:1", utcnow(), "ok", None, MN), 1)])
    with pytest.raises(SpoolElsewhere, match="OFFSITE_ARCHIVE_WRITER=old-host to replay them first"):
        orphaned_spools(tmp_path, tmp_path / "spool" / "new-host")
    orphaned_spools(tmp_path, orphan)  # its own chain's gateway may start


def test_checks_skipped_at_a_start_without_the_database_are_done_once_it_answers(
    postgres_engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A gateway started with another data directory while the database was away must still find
    out that the chain's old spool holds acknowledged packets."""
    register(postgres_engine)
    url = make_url(postgres_engine.url)
    first = settings_for(url.render_as_string(hide_password=False), tmp_path / "a")
    assert first.gateway_spool_dir is not None

    async def scenario() -> None:
        async with running(first, postgres_engine):
            pass
        Spool(first.gateway_spool_dir).append(
            [Spooled(Incoming(b"##0000", "127.0.0.1:1", utcnow(), "ok", None, MN), 1)]
        )
        proxy = Proxy(url.host or "127.0.0.1", url.port or 5432)
        proxied = url.set(port=await proxy.start()).render_as_string(hide_password=False)
        second = settings_for(proxied, tmp_path / "b", gateway_offline_after=0.3)
        engine = make_engine(proxied)
        proxy.cut()
        try:
            async with running(second, engine) as (gateway, _):
                assert not gateway._checked
                proxy.restore()
                await until(lambda: "acknowledged packets waiting in its spool" in caplog.text, timeout=10)
        finally:
            engine.dispose()
            await proxy.stop()

    with caplog.at_level(logging.CRITICAL, logger="offsite.gateway.server"):
        run(scenario)


def test_a_device_deactivated_in_the_registry_is_dropped_within_a_reload(
    engine: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(engine)
    monkeypatch.setattr(server, "DIRECTORY_RELOAD_EVERY", 0.2)

    async def scenario() -> None:
        async with running(settings_for(database_url, tmp_path, gateway_offline_after=0.3), engine) as (gateway, _):
            assert gateway.directory.get(MN) is not None
            with engine.begin() as conn:
                conn.execute(update(Device).where(Device.mn == MN).values(active=False))
            await until(lambda: gateway.directory.get(MN) is None, timeout=5)

    run(scenario)


def test_the_spool_an_earlier_version_left_in_the_working_directory_is_not_missed(tmp_path: Path) -> None:
    old = tmp_path / "offsite-spool"
    Spool(old).append([Spooled(Incoming(b"##0000", "127.0.0.1:1", utcnow(), "ok", None, MN), 1)])
    with pytest.raises(SpoolElsewhere, match="acknowledged packets an earlier version spooled"):
        legacy_spool(tmp_path / "data" / "spool" / "vm", tmp_path)
    legacy_spool(old, tmp_path)  # started on it, as the README says: it replays them
