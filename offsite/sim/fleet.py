"""A fleet of virtual loggers: history first (hours of hour data, then minute data), then live.

Each device is a real TCP client of the gateway; its series come from ``signals``, its packets
from ``packets``, and it answers the platform's requests through ``Logger``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from cryptography.fernet import Fernet
from sqlalchemy import Engine, select

from offsite.hj212.packet import Packet
from offsite.hj212.times import CST
from offsite.hj212.version import Version
from offsite.registry.models import Device, Outlet
from offsite.registry.passwords import decrypt
from offsite.registry.standards import reference_o2
from offsite.sim.device import VirtualDevice
from offsite.sim.logger import Logger
from offsite.sim.packets import interval_packet, realtime_packet, window_flags
from offsite.sim.scenarios import Series
from offsite.sim.signals import GAS, WATER, series

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    mn: str
    pw: str
    medium: str  # gas or water
    version: Version = Version.V2017
    seed: int = 0
    plant: Callable[[Series], None] | None = None
    """Plants scenarios in the device's series (see ``scenarios``) before anything is sent."""
    minute_spans: tuple[tuple[int, int], ...] = ()
    """Further (first, count) minute indexes sent as minute data besides the last hours: the
    windows where scenarios were planted, with their context."""
    o2_ref: float | None = None
    """The outlet's reference O2, which the logger corrects flue-gas pollutants to (ZsAvg)."""

    @property
    def st(self) -> str:
        return "31" if self.medium == "gas" else "32"


@dataclass(slots=True)
class FleetStats:
    sent: int = 0
    acked: int = 0
    unanswered: int = 0
    failed_devices: list[str] = field(default_factory=list)


class Fleet:
    def __init__(
        self,
        specs: list[DeviceSpec],
        host: str,
        port: int,
        *,
        ack_timeout: float = 10.0,
        concurrency: int = 200,
        source_hosts: list[str] | None = None,
        live_minutes: bool = False,
        window: int = 1,
    ) -> None:
        self.specs = specs
        self.host = host
        self.port = port
        self.ack_timeout = ack_timeout
        self.source_hosts = source_hosts or []
        self.live_minutes = live_minutes
        self.window = window
        """History uploads one device may have awaiting their acks at once (1: one by one)."""
        self.stats = FleetStats()
        self.series: list[Series] = []
        """Every device's series as sent, with the labels of what was planted in them."""
        self._gate = asyncio.Semaphore(concurrency)
        self._filled: asyncio.Barrier | None = None
        self._abnormal: dict[str, np.ndarray] = {}
        self._typical_extra = 0
        """Per device, the minutes where some factor is flagged other than N (most intervals have none)."""
        self._on_filled: Callable[[], None] | None = None

    async def run(
        self,
        *,
        history_hours: int,
        minute_hours: int,
        live_seconds: float = 0.0,
        realtime_every: float = 30.0,
        now: datetime | None = None,
        start: datetime | None = None,
        on_filled: Callable[[], None] | None = None,
    ) -> FleetStats:
        """Send the history of every device (from ``start``, ``history_hours`` before ``now`` by
        default, up to ``now``, the current minute by default), then keep them live for
        ``live_seconds``. ``on_filled`` is called once every history is sent."""
        now = now or datetime.now(UTC).replace(second=0, microsecond=0)
        start = start or now - timedelta(hours=history_hours)
        self._filled = asyncio.Barrier(len(self.specs)) if self.specs else None
        self._on_filled = on_filled
        minutes = int((now - start).total_seconds() // 60)
        extra = sorted(len(_minutes(spec.minute_spans, minutes, 0)) for spec in self.specs)
        self._typical_extra = extra[len(extra) // 2] if extra else 0
        await asyncio.gather(
            *(
                self._device(
                    i,
                    spec,
                    now=now,
                    start=start,
                    minute_hours=minute_hours,
                    live=live_seconds,
                    every=realtime_every,
                )
                for i, spec in enumerate(self.specs)
            )
        )
        return self.stats

    async def _device(
        self,
        index: int,
        spec: DeviceSpec,
        *,
        now: datetime,
        start: datetime,
        minute_hours: int,
        live: float,
        every: float,
    ) -> None:
        logger = Logger()
        source = (self.source_hosts[index % len(self.source_hosts)], 0) if self.source_hosts else None
        device = VirtualDevice(
            spec.mn, spec.pw, st=spec.st, ack_timeout=self.ack_timeout, on_request=logger, local_addr=source
        )
        profiles = GAS if spec.medium == "gas" else WATER
        minutes = int((now - start).total_seconds() // 60)
        planted = Series(spec.mn, start, series(profiles, start, minutes, spec.seed or index + 1))
        if spec.plant is not None:
            spec.plant(planted)
        self.series.append(planted)
        self._abnormal[spec.mn] = np.logical_or.reduce([f != "N" for f in planted.flags.values()])
        filled = False
        try:
            async with self._gate:
                await device.connect(self.host, self.port)
                # a device with much more history than most gets a wider window, so that it
                # finishes about when they do instead of trailing alone at the end
                extra = len(_minutes(spec.minute_spans, minutes, 0)) - self._typical_extra
                pipe = _Pipe(self.window + self.window * max(0, extra) // max(1, minutes // 60))
                for hour in range(minutes // 60):
                    await pipe.put(
                        self._interval(device, logger, spec, planted, period="hour", first=hour * 60, count=60)
                    )
                local = start.astimezone(CST)
                midnight = (1440 - (local.hour * 60 + local.minute)) % 1440  # days run midnight to midnight, China time
                for first in range(midnight, minutes - 1440 + 1, 1440):
                    await pipe.put(self._interval(device, logger, spec, planted, period="day", first=first, count=1440))
                for first in _minutes(spec.minute_spans, minutes, minute_hours):
                    await pipe.put(self._interval(device, logger, spec, planted, period="minute", first=first, count=1))
                await pipe.drain()
            filled = True
            await self._wait_for_all()
            await self._live(device, logger, spec, planted, live=live, every=every)
        except (ConnectionError, OSError) as exc:
            log.warning("device %s: %s", spec.mn, exc)
            self.stats.failed_devices.append(spec.mn)
            if not filled:
                await self._wait_for_all()
        finally:
            await device.close()

    async def _wait_for_all(self) -> None:
        """Wait until every device has sent its history (or failed); one of them then says so."""
        if self._filled is not None and await self._filled.wait() == 0 and self._on_filled is not None:
            self._on_filled()

    async def _interval(
        self,
        device: VirtualDevice,
        logger: Logger,
        spec: DeviceSpec,
        planted: Series,
        *,
        period: str,
        first: int,
        count: int,
        at: datetime | None = None,
    ) -> None:
        """The upload for minutes ``first`` … ``first + count`` from those sent; none if none
        were. ``at`` dates it otherwise than its place in the series (a live minute)."""
        sent = ~planted.missing[first : first + count]
        if not sent.any():
            return  # a gap: the logger has nothing for this interval
        await self._send(
            device,
            logger,
            interval_packet(
                mn=spec.mn,
                pw=spec.pw,
                st=spec.st,
                medium=spec.medium,
                period=period,
                start=at or planted.at(first),
                values={code: v[first : first + count][sent] for code, v in planted.values.items()},
                flags=window_flags(planted.flags, first, count, sent)
                if self._abnormal[spec.mn][first : first + count].any()
                else None,
                qn=device.next_qn(),
                version=spec.version,
                o2_ref=spec.o2_ref,
            ),
        )

    async def _live(
        self,
        device: VirtualDevice,
        logger: Logger,
        spec: DeviceSpec,
        planted: Series,
        *,
        live: float,
        every: float,
    ) -> None:
        """Real-time packets every ``every`` seconds and, with ``live_minutes``, each minute's
        data once it ends (the same minute of the day before, so the daily cycle goes on)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + live
        index = 0
        values = planted.values
        # minutes pass while the history goes out: the first live pass sends them too, as a
        # logger that stored them would
        sent_minute = planted.at(len(planted.missing) - 1)
        next_realtime = loop.time()
        while loop.time() < end:
            if loop.time() >= next_realtime:
                latest = {code: float(series[-1 - (index % len(series))]) for code, series in values.items()}
                await self._send(
                    device,
                    logger,
                    realtime_packet(
                        mn=spec.mn,
                        pw=spec.pw,
                        st=spec.st,
                        at=logger.now(),
                        values=latest,
                        qn=device.next_qn(),
                        version=spec.version,
                    ),
                )
                index += 1
                next_realtime += every
            now = datetime.now(UTC)
            while self.live_minutes and now - timedelta(minutes=1) >= sent_minute + timedelta(minutes=1):
                sent_minute += timedelta(minutes=1)
                await self._live_minute(device, logger, spec, planted, sent_minute)
            # wake for the next real-time packet, or just after the minute under way ends
            minute_ends = (sent_minute + timedelta(minutes=2) - datetime.now(UTC)).total_seconds() + 0.5
            pause = min(next_realtime - loop.time(), minute_ends if self.live_minutes else every)
            await asyncio.sleep(max(0.0, min(pause, end - loop.time())))

    async def _live_minute(
        self, device: VirtualDevice, logger: Logger, spec: DeviceSpec, planted: Series, at: datetime
    ) -> None:
        day_before = int((at - planted.start).total_seconds() // 60) - 1440
        if 0 <= day_before < len(planted.missing):
            await self._interval(device, logger, spec, planted, period="minute", first=day_before, count=1, at=at)

    async def _send(self, device: VirtualDevice, logger: Logger, packet: Packet) -> None:
        if packet.cn != "2011":
            logger.keep(packet)  # what a logger stores, it can send again when asked
        self.stats.sent += 1
        if await device.send(packet) is None:
            self.stats.unanswered += 1
        else:
            self.stats.acked += 1


class _Pipe:
    """Up to ``window`` uploads of one device awaiting their acks at once, written in order.

    The standard lets a logger move on after a reply or a timeout; sending a backlog with a few
    uploads in flight is how a logger catches up over a link with latency, and the gateway
    acknowledges each in arrival order."""

    def __init__(self, window: int) -> None:
        self.window = max(1, window)
        self.flying: set[asyncio.Task[None]] = set()

    async def put(self, upload: Coroutine[Any, Any, None]) -> None:
        if len(self.flying) >= self.window:
            done, self.flying = await asyncio.wait(self.flying, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # a lost connection ends the device's history here
        self.flying.add(asyncio.create_task(upload))
        await asyncio.sleep(0)  # the upload writes its packet before the next one is made

    async def drain(self) -> None:
        if self.flying:
            done, _ = await asyncio.wait(self.flying)
            self.flying = set()
            for task in done:
                task.result()


def _minutes(spans: tuple[tuple[int, int], ...], minutes: int, last_hours: int) -> list[int]:
    """The minute indexes to send as minute data, in time order, each once."""
    chosen = set(range(max(0, minutes - last_hours * 60), minutes))
    for first, count in spans:
        chosen.update(range(max(0, first), min(minutes, first + count)))
    return sorted(chosen)


def specs_from_registry(engine: Engine, fernet: Fernet, limit: int | None = None) -> list[DeviceSpec]:
    """The registry's active devices as the simulator needs them (MN, PW, gas or water)."""
    query = (
        select(
            Device.mn,
            Device.password_enc,
            Device.protocol_version,
            Outlet.medium,
            Device.id,
            Outlet.o2_ref,
            Outlet.standard,
        )
        .join(Outlet, Outlet.id == Device.outlet_id)
        .where(Device.active.is_(True))
        .order_by(Device.id)
    )
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        DeviceSpec(
            row.mn,
            decrypt(fernet, row.password_enc),
            row.medium,
            Version(row.protocol_version),
            seed=row.id,
            o2_ref=reference_o2(row.o2_ref, row.standard),
        )
        for row in rows
    ]
