"""Requests the platform sends to devices, followed to their end.

A request is written on the device's current connection and recorded in ``platform_command``.
Without a 9011 within the reply timeout it is sent again, up to the retries (HJ 212-2017
Table 1), then it times out. A 9011 with QnRtn=1 starts the execution wait for the 9012; any
other QnRtn ends it as rejected. The 9012's ExeRtn ends it as done, failed or no_data.

Sessions never wait for the database here: ``request`` and ``on_reply`` change only what is kept
in memory, and every ``platform_command`` write (the row of a new request, which is sent once it
is written; each change of state) goes to one queue, taken in order by one task. A hung or broken
database delays those writes and the requests behind them, never a device's acks; a write that
fails is logged and dropped (a request whose row could not be written is not sent).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
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

_QUEUE_LIMIT = 10_000
"""Database writes waiting behind a slow database before further ones are dropped (logged, counted).
Requests are limited per device, so this is reached only by a database hung for very long."""


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
        """CNs waiting per device, so that asking costs the same however many devices do not answer.
        A request counts from the moment it is queued, so it is never asked for twice meanwhile."""
        self._writes: asyncio.Queue[Callable[[], Awaitable[object]]] = asyncio.Queue()
        self._dropped_since_logged = 0

    def outstanding(self, device_id: int, cn: str | None = None) -> bool:
        """Whether a request (of that CN) to the device is still waiting for its end."""
        waiting = self._by_device.get(device_id)
        if not waiting:
            return False
        return cn is None or waiting[cn] > 0

    def request(self, session: DeviceSession, device_id: int, packet: Packet, reason: str) -> bool:
        """Queue a request without waiting: its row is written, then it is sent, by the write task.

        False if it was dropped (the queue of writes is full)."""
        self._count(device_id, packet.cn)
        if not self._queue(functools.partial(self._deliver, session, device_id, packet, reason)):
            self._forget(device_id, packet.cn)
            return False
        return True

    async def send(self, session: DeviceSession, device_id: int, packet: Packet, reason: str) -> int | None:
        """Write the request's row, send it and start following it; its ``platform_command`` id
        (None if the session closed first). Waits for the database: sessions use ``request``."""
        self._count(device_id, packet.cn)
        return await self._deliver(session, device_id, packet, reason)

    async def _deliver(self, session: DeviceSession, device_id: int, packet: Packet, reason: str) -> int | None:
        assert packet.qn is not None
        if session.closed:
            self._forget(device_id, packet.cn)
            log.info("not sending CN=%s to device %d: its connection closed meanwhile", packet.cn, device_id)
            return None
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
        try:
            row_id = await asyncio.to_thread(self._insert, row)
        except BaseException:
            self._forget(device_id, packet.cn)
            raise
        self._pending[(device_id, packet.qn)] = _Pending(
            row_id, device_id, packet, session, 1, time.monotonic() + self.settings.gateway_reply_timeout
        )
        session.send(encode(packet))  # never waits: a device that does not read is cut off, not waited for
        log.info("sent CN=%s QN=%s to device %d: %s", packet.cn, packet.qn, device_id, reason)
        return row_id

    def on_reply(self, device_id: int, packet: Packet) -> None:
        """A 9011 or 9012 from a device (its new state is written by the write task)."""
        qn = answered_qn(packet)
        pending = self._pending.get((device_id, qn or ""))
        if pending is None:
            return
        if packet.cn == "9011":
            code = _code(packet.get("QnRtn"))
            if code == QnRtn.READY:
                pending.accepted = True
                pending.deadline = time.monotonic() + self.settings.gateway_execution_timeout
                self._update(pending, state="accepted", qn_rtn=code)
            else:
                self._finish(pending, "rejected", qn_rtn=code)
        elif packet.cn == "9012":
            code = _code(packet.get("ExeRtn"))
            state = "done" if code == ExeRtn.SUCCESS else "no_data" if code == ExeRtn.NO_DATA else "failed"
            self._finish(pending, state, exe_rtn=code)

    async def run(self, tick: float = 0.2) -> None:
        """Resend requests without a 9011 in time; time out those past their last chance."""
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            for pending in list(self._pending.values()):
                if now < pending.deadline:
                    continue
                if pending.accepted or pending.attempts > self.settings.gateway_retries or pending.session.closed:
                    self._finish(pending, "timeout")
                    continue
                pending.attempts += 1
                pending.deadline = now + self.settings.gateway_reply_timeout
                pending.session.send(encode(pending.packet))
                self._update(pending, attempts=pending.attempts)

    async def write(self) -> None:
        """The write task: ``platform_command`` rows and requests, one at a time, in order."""
        while True:
            job = await self._writes.get()
            try:
                await job()
            except Exception:
                log.exception("a platform command could not be recorded (and a new request is not sent)")
            finally:
                self._writes.task_done()

    async def flush(self) -> None:
        """Wait until every queued write is done (at shutdown, within a grace period)."""
        await self._writes.join()

    def _queue(self, job: Callable[[], Awaitable[object]]) -> bool:
        if self._writes.qsize() >= _QUEUE_LIMIT:
            self.gateway.metrics.command_writes_dropped.inc()
            self._dropped_since_logged += 1
            if self._dropped_since_logged == 1 or self._dropped_since_logged % 1000 == 0:
                log.error("%d platform command writes waiting for the database: dropping more", _QUEUE_LIMIT)
            return False
        self._dropped_since_logged = 0
        self._writes.put_nowait(job)
        return True

    def _count(self, device_id: int, cn: str) -> None:
        self._by_device[device_id][cn] += 1

    def _forget(self, device_id: int, cn: str) -> None:
        waiting = self._by_device.get(device_id)
        if waiting is None:
            return
        waiting[cn] -= 1
        if waiting.total() <= 0:
            del self._by_device[device_id]

    def _finish(self, pending: _Pending, state: str, **values: Any) -> None:
        if self._pending.pop((pending.device_id, pending.packet.qn or ""), None) is not None:
            self._forget(pending.device_id, pending.packet.cn)
        self._update(pending, state=state, finished_at=datetime.now(UTC), **values)

    def _update(self, pending: _Pending, **values: Any) -> None:
        def write() -> None:
            with self.gateway.engine.begin() as conn:
                conn.execute(update(PlatformCommand).where(PlatformCommand.id == pending.row_id).values(**values))

        async def job() -> None:
            try:
                await asyncio.to_thread(write)
            except Exception:
                log.exception("cannot record the state of command %d", pending.row_id)

        self._queue(job)

    def _insert(self, row: dict[str, Any]) -> int:
        with self.gateway.engine.begin() as conn:
            return int(conn.execute(insert(PlatformCommand).returning(PlatformCommand.id), row).scalar_one())


def _code(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None
