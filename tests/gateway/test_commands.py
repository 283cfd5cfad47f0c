"""The platform's requests: clock setting (1012) and backfill (2051 with BeginTime/EndTime)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, select

from offsite.gateway.models import PlatformCommand
from offsite.hj212.times import CST
from offsite.hj212.uploads import upload
from offsite.sim.device import VirtualDevice
from offsite.sim.logger import Logger
from offsite.store.models import IntervalValue
from tests.gateway.helpers import DEVICES, minute_upload, register, run, running, settings_for, until

MN, PW = next(iter(DEVICES.items()))


def commands(engine: Engine) -> list[PlatformCommand]:
    with engine.connect() as conn:
        return list(conn.execute(select(*PlatformCommand.__table__.c).order_by(PlatformCommand.id)).all())  # type: ignore[arg-type]


def realtime(logger: Logger, qn: str) -> object:
    return upload(
        cn="2011", mn=MN, pw=PW, st="31", qn=qn, data_time=logger.now(), factors={"a21026": {"Rtd": 30, "Flag": "N"}}
    )


def test_a_drifted_clock_is_set_once(engine: Engine, database_url: str, tmp_path: Path) -> None:
    register(engine)

    async def scenario() -> None:
        async with running(settings_for(database_url, tmp_path, gateway_clock_bound=60), engine) as (_, port):
            logger = Logger(clock_offset=timedelta(minutes=-10))
            device = VirtualDevice(MN, PW, ack_timeout=5, on_request=logger)
            await device.connect("127.0.0.1", port)
            qn = lambda: logger.now().strftime("%Y%m%d%H%M%S") + "001"  # noqa: E731 - the device's clock stamps QNs
            assert await device.send(realtime(logger, qn())) is not None
            await until(lambda: bool(commands(engine)) and commands(engine)[0].state == "done")
            assert abs(logger.clock_offset.total_seconds()) < 5  # the logger's clock was set
            assert await device.send(realtime(logger, qn())) is not None
            await asyncio.sleep(0.3)
            await device.close()

    run(scenario)
    (command,) = commands(engine)
    assert (command.cn, command.qn_rtn, command.exe_rtn, command.attempts) == ("1012", 1, 1, 1)
    assert command.cp.startswith("SystemTime=")
    assert "clock off by -6" in command.reason


def test_old_minute_data_are_not_taken_for_a_drifted_clock(engine: Engine, database_url: str, tmp_path: Path) -> None:
    register(engine)

    async def scenario() -> None:
        async with running(settings_for(database_url, tmp_path), engine) as (_, port):
            device = VirtualDevice(MN, PW, ack_timeout=5)
            await device.connect("127.0.0.1", port)
            # DataTime is the interval start, hours ago: that says nothing about the clock
            packet = minute_upload(MN, PW, datetime.now(CST).strftime("%Y%m%d%H%M%S") + "001", 0)
            assert await device.send(packet) is not None
            await asyncio.sleep(0.3)
            await device.close()

    run(scenario)
    assert commands(engine) == []


def test_a_gap_is_asked_for_and_filled(engine: Engine, database_url: str, tmp_path: Path) -> None:
    ids = register(engine)

    async def scenario() -> None:
        async with running(settings_for(database_url, tmp_path), engine) as (_, port):
            logger = Logger()
            device = VirtualDevice(MN, PW, ack_timeout=5, on_request=logger)
            await device.connect("127.0.0.1", port)
            packets = [minute_upload(MN, PW, f"2026112910{m:02d}00001", m, so2=30.0 + m) for m in range(6)]
            for packet in packets:
                logger.keep(packet)
            for minute in (0, 1, 2, 5):  # minutes 3 and 4 never went out
                assert await device.send(packets[minute]) is not None
            await until(lambda: bool(commands(engine)) and commands(engine)[0].state == "done")
            await until(lambda: _minutes(engine, ids[MN]) == list(range(6)))
            await device.close()

    run(scenario)
    (command,) = commands(engine)
    assert command.cn == "2051"
    assert command.cp == "BeginTime=20261129100300;EndTime=20261129100400"


def test_an_unanswered_request_is_sent_again_then_times_out(engine: Engine, database_url: str, tmp_path: Path) -> None:
    register(engine)

    async def scenario() -> None:
        settings = settings_for(database_url, tmp_path, gateway_reply_timeout=0.2, gateway_retries=2)
        async with running(settings, engine) as (_, port):
            logger = Logger(clock_offset=timedelta(hours=1), answers=False)
            device = VirtualDevice(MN, PW, ack_timeout=5, on_request=logger)
            await device.connect("127.0.0.1", port)
            assert await device.send(realtime(logger, logger.now().strftime("%Y%m%d%H%M%S") + "001")) is not None
            await until(lambda: bool(commands(engine)) and commands(engine)[0].state == "timeout")
            assert len(logger.requests) == 3  # sent, then again twice
            await device.close()

    run(scenario)
    assert commands(engine)[0].attempts == 3


def _minutes(engine: Engine, device_id: int) -> list[int]:
    with engine.connect() as conn:
        times = conn.execute(
            select(IntervalValue.ts).where(IntervalValue.device_id == device_id, IntervalValue.factor == "a21026")
        ).scalars()
        return sorted(t.astimezone(CST).minute for t in times)


def test_gap_tracker_learns_the_spacing_and_ignores_fill_ins() -> None:
    from offsite.gateway.gaps import GapTracker

    tracker = GapTracker(timedelta(hours=48))
    t0 = datetime(2026, 11, 29, tzinfo=UTC)
    five = timedelta(minutes=5)
    assert [tracker.observe(1, "2051", t0 + i * five) for i in range(3)] == [None, None, None]  # every 5 min: no gap
    assert tracker.observe(1, "2051", t0 + 5 * five) == (t0 + 3 * five, t0 + 4 * five)
    assert tracker.observe(1, "2051", t0 + 3 * five) is None  # backfilled: fills in
    assert tracker.observe(2, "2061", t0) is None
    assert tracker.observe(2, "2061", t0 + timedelta(hours=4)) == (t0 + timedelta(hours=1), t0 + timedelta(hours=3))
    far = GapTracker(timedelta(hours=2))
    far.observe(3, "2061", t0)
    assert far.observe(3, "2061", t0 + timedelta(days=3)) == (
        t0 + timedelta(days=3, hours=-2),
        t0 + timedelta(days=3, hours=-1),
    )
