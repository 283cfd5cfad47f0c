"""Requests the platform sends to devices, followed to their end.

A request is written on the device's current connection and recorded in ``platform_command``.
Without a 9011 within the reply timeout it is sent again, up to the retries (HJ 212-2017
Table 1), then it times out. A 9011 with QnRtn=1 starts the execution wait for the 9012; any
other QnRtn ends it as rejected. The 9012's ExeRtn ends it as done, failed or no_data.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, update

from offsite.gateway.models import PlatformCommand
from offsite.hj212.codes.returns import ExeRtn, QnRtn
from offsite.hj212.cp import encode_cp
from offsite.hj212.encoder import encode
from offsite.hj212.packet import Packet
from offsite.hj212.replies import answered_qn

if TYPE_CHECKING:
    from offsite.gateway.server import Gateway
    from offsite.gateway.session import DeviceSession

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Pending:
    row_id: int
    device_id: int
    packet: Packet
    session: DeviceSession
    attempts: int
    deadline: float
    accepted: bool = False


class Commander:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.settings = gateway.settings
        self._pending: dict[tuple[int, str], _Pending] = {}
        self._by_device: dict[int, Counter[str]] = defaultdict(Counter)
        """CNs waiting per device, so that asking costs the same however many devices do not answer."""

    def outstanding(self, device_id: int, cn: str | None = None) -> bool:
        """Whether a request (of that CN) to the device is still waiting for its end."""
        waiting = self._by_device.get(device_id)
        if not waiting:
            return False
        return cn is None or waiting[cn] > 0

    async def send(self, session: DeviceSession, device_id: int, packet: Packet, reason: str) -> int:
        """Send a request and start following it; returns its ``platform_command`` id."""
        assert packet.qn is not None
        row = {
            "device_id": device_id,
            "qn": packet.qn,
            "cn": packet.cn,
            "cp": encode_cp(packet.cp),
            "reason": reason,
            "sent_at": datetime.now(UTC),
            "attempts": 1,
            "state": "sent",
        }
        row_id = await asyncio.to_thread(self._insert, row)
        self._pending[(device_id, packet.qn)] = _Pending(
            row_id, device_id, packet, session, 1, time.monotonic() + self.settings.gateway_reply_timeout
        )
        self._by_device[device_id][packet.cn] += 1
        session.send(encode(packet))  # never waits: a device that does not read is cut off, not waited for
        log.info("sent CN=%s QN=%s to device %d: %s", packet.cn, packet.qn, device_id, reason)
        return row_id

    async def on_reply(self, device_id: int, packet: Packet) -> None:
        """A 9011 or 9012 from a device."""
        qn = answered_qn(packet)
        pending = self._pending.get((device_id, qn or ""))
        if pending is None:
            return
        if packet.cn == "9011":
            code = _code(packet.get("QnRtn"))
            if code == QnRtn.READY:
                pending.accepted = True
                pending.deadline = time.monotonic() + self.settings.gateway_execution_timeout
                await self._update(pending, state="accepted", qn_rtn=code)
            else:
                await self._finish(pending, "rejected", qn_rtn=code)
        elif packet.cn == "9012":
            code = _code(packet.get("ExeRtn"))
            state = "done" if code == ExeRtn.SUCCESS else "no_data" if code == ExeRtn.NO_DATA else "failed"
            await self._finish(pending, state, exe_rtn=code)

    async def run(self, tick: float = 0.2) -> None:
        """Resend requests without a 9011 in time; time out those past their last chance."""
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            for pending in list(self._pending.values()):
                if now < pending.deadline:
                    continue
                if pending.accepted or pending.attempts > self.settings.gateway_retries or pending.session.closed:
                    await self._finish(pending, "timeout")
                    continue
                pending.attempts += 1
                pending.deadline = now + self.settings.gateway_reply_timeout
                pending.session.send(encode(pending.packet))
                await self._update(pending, attempts=pending.attempts)

    async def _finish(self, pending: _Pending, state: str, **values: Any) -> None:
        if self._pending.pop((pending.device_id, pending.packet.qn or ""), None) is not None:
            waiting = self._by_device[pending.device_id]
            waiting[pending.packet.cn] -= 1
            if waiting.total() <= 0:
                del self._by_device[pending.device_id]
        await self._update(pending, state=state, finished_at=datetime.now(UTC), **values)

    async def _update(self, pending: _Pending, **values: Any) -> None:
        def write() -> None:
            with self.gateway.engine.begin() as conn:
                conn.execute(update(PlatformCommand).where(PlatformCommand.id == pending.row_id).values(**values))

        try:
            await asyncio.to_thread(write)
        except Exception:
            log.exception("cannot record the state of command %d", pending.row_id)

    def _insert(self, row: dict[str, Any]) -> int:
        with self.gateway.engine.begin() as conn:
            return int(conn.execute(insert(PlatformCommand).returning(PlatformCommand.id), row).scalar_one())


def _code(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None
