"""A fleet of virtual loggers: history first (hours of hour data, then minute data), then live.

Each device is a real TCP client of the gateway; its series come from ``signals``, its packets
from ``packets``, and it answers the platform's requests through ``Logger``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
from cryptography.fernet import Fernet
from sqlalchemy import Engine, select

from offsite.hj212.packet import Packet
from offsite.hj212.times import CST
from offsite.hj212.version import Version
from offsite.registry.models import Device, Outlet
from offsite.registry.passwords import decrypt
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
    ) -> None:
        self.specs = specs
        self.host = host
        self.port = port
        self.ack_timeout = ack_timeout
        self.source_hosts = source_hosts or []
        self.stats = FleetStats()
        self.series: list[Series] = []
        """Every device's series as sent, with the labels of what was planted in them."""
        self._gate = asyncio.Semaphore(concurrency)

    async def run(
        self, *, history_hours: int, minute_hours: int, live_seconds: float = 0.0, realtime_every: float = 30.0
    ) -> FleetStats:
        """Send the history of every device, then keep them live for ``live_seconds``."""
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        await asyncio.gather(
            *(
                self._device(
                    i,
                    spec,
                    now=now,
                    history_hours=history_hours,
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
        history_hours: int,
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
        start = now - timedelta(hours=history_hours)
        minutes = int((now - start).total_seconds() // 60)
        planted = Series(spec.mn, start, series(profiles, start, minutes, spec.seed or index + 1))
        if spec.plant is not None:
            spec.plant(planted)
        self.series.append(planted)
        values = planted.values
        try:
            async with self._gate:
                await device.connect(self.host, self.port)
                for hour in range(history_hours):
                    await self._interval(device, logger, spec, planted, period="hour", first=hour * 60, count=60)
                local = start.astimezone(CST)
                midnight = (1440 - (local.hour * 60 + local.minute)) % 1440  # days run midnight to midnight, China time
                for first in range(midnight, minutes - 1440 + 1, 1440):
                    await self._interval(device, logger, spec, planted, period="day", first=first, count=1440)
                for first in range(max(0, minutes - minute_hours * 60), minutes):
                    await self._interval(device, logger, spec, planted, period="minute", first=first, count=1)
            await self._live(device, logger, spec, values, live=live, every=every)
        except (ConnectionError, OSError) as exc:
            log.warning("device %s: %s", spec.mn, exc)
            self.stats.failed_devices.append(spec.mn)
        finally:
            await device.close()

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
    ) -> None:
        """The upload for minutes ``first`` … ``first + count`` from those sent; none if none were."""
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
                start=planted.at(first),
                values={code: v[first : first + count][sent] for code, v in planted.values.items()},
                flags=window_flags(planted.flags, first, count, sent),
                qn=device.next_qn(),
                version=spec.version,
            ),
        )

    async def _live(
        self,
        device: VirtualDevice,
        logger: Logger,
        spec: DeviceSpec,
        values: dict[str, np.ndarray],
        *,
        live: float,
        every: float,
    ) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + live
        index = 0
        while loop.time() < end:
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
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.sleep(every), max(0.0, end - loop.time()))

    async def _send(self, device: VirtualDevice, logger: Logger, packet: Packet) -> None:
        if packet.cn != "2011":
            logger.keep(packet)  # what a logger stores, it can send again when asked
        self.stats.sent += 1
        if await device.send(packet) is None:
            self.stats.unanswered += 1
        else:
            self.stats.acked += 1


def specs_from_registry(engine: Engine, fernet: Fernet, limit: int | None = None) -> list[DeviceSpec]:
    """The registry's active devices as the simulator needs them (MN, PW, gas or water)."""
    query = (
        select(Device.mn, Device.password_enc, Device.protocol_version, Outlet.medium, Device.id)
        .join(Outlet, Outlet.id == Device.outlet_id)
        .where(Device.active.is_(True))
        .order_by(Device.id)
    )
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        DeviceSpec(row.mn, decrypt(fernet, row.password_enc), row.medium, Version(row.protocol_version), seed=row.id)
        for row in rows
    ]
