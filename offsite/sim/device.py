"""A virtual data logger: connects over TCP, uploads, waits for 9014 and resends on timeout.

It behaves as the standard asks of a logger (HJ 212-2017 Table 1: reply timeout, 3 retries):
an upload that asks for an answer is sent again until its 9014 (same QN) arrives or the retries
are spent. Requests from the platform are passed to ``on_request`` (time, backfill …).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from offsite.hj212.crc import CrcVariant
from offsite.hj212.decoder import Decoder
from offsite.hj212.encoder import encode
from offsite.hj212.packet import Decoded, Packet
from offsite.hj212.replies import answered_qn
from offsite.hj212.times import make_qn

RequestHandler = Callable[["VirtualDevice", Packet], Coroutine[Any, Any, None]]


class VirtualDevice:
    def __init__(
        self,
        mn: str,
        pw: str,
        *,
        st: str = "31",
        crc_variant: CrcVariant = CrcVariant.HJ212,
        ack_timeout: float = 10.0,
        retries: int = 3,
        on_request: RequestHandler | None = None,
        local_addr: tuple[str, int] | None = None,
    ) -> None:
        self.mn = mn
        self.pw = pw
        self.st = st
        self.crc_variant = crc_variant
        self.ack_timeout = ack_timeout
        self.retries = retries
        self.on_request = on_request
        self.local_addr = local_addr
        self.sent = 0
        self.resent = 0
        self.acked = 0
        self.received: list[Packet] = []
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._waiting: dict[str, asyncio.Future[Packet]] = {}
        self._task: asyncio.Task[None] | None = None
        self._qn_counter = 0
        self._handlers: set[asyncio.Task[None]] = set()

    async def connect(self, host: str, port: int) -> None:
        self._reader, self._writer = await asyncio.open_connection(host, port, local_addr=self.local_addr)
        self._task = asyncio.create_task(self._read(), name=f"sim-{self.mn}")

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self._writer.wait_closed()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    def next_qn(self) -> str:
        """A QN unique within this device: the time plus a counter in the millisecond digits."""
        self._qn_counter = (self._qn_counter + 1) % 1000
        base = make_qn(datetime.now(UTC))
        return base[:14] + f"{self._qn_counter:03d}"

    async def send(self, packet: Packet) -> Packet | None:
        """Send; if it asks for an answer, wait for it (resending on timeout). The answer, or None."""
        data = encode(packet, crc_variant=self.crc_variant)
        if not packet.ack_requested or packet.qn is None:
            await self.write(data)
            return None
        future: asyncio.Future[Packet] = asyncio.get_running_loop().create_future()
        self._waiting[packet.qn] = future
        try:
            for attempt in range(self.retries + 1):
                await self.write(data)
                if attempt:
                    self.resent += 1
                try:
                    async with asyncio.timeout(self.ack_timeout):  # cheaper than wait_for: no task
                        reply = await asyncio.shield(future)
                except TimeoutError:
                    continue
                self.acked += 1
                return reply
            return None
        finally:
            self._waiting.pop(packet.qn, None)

    async def write(self, data: bytes) -> None:
        if self._writer is None:
            raise ConnectionError(f"device {self.mn} is not connected")
        self._writer.write(data)
        await self._writer.drain()
        self.sent += 1

    async def _read(self) -> None:
        assert self._reader is not None
        decoder = Decoder()
        while True:
            try:
                data = await self._reader.read(65536)
            except (ConnectionError, OSError):
                return  # the platform went away; senders find out when they write
            if not data:
                return
            for item in decoder.feed(data):
                if isinstance(item, Decoded):
                    await self._on_packet(item.packet)

    async def _on_packet(self, packet: Packet) -> None:
        self.received.append(packet)
        if packet.cn in ("9011", "9012", "9013", "9014"):
            qn = answered_qn(packet)
            future = self._waiting.get(qn or "")
            if future is not None and not future.done():
                future.set_result(packet)
        elif self.on_request is not None:
            # A separate task: answering may wait for acks, which arrive through this reader.
            task: asyncio.Task[None] = asyncio.create_task(self.on_request(self, packet))
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
