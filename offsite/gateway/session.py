"""One device connection: framing, the device check, durable write, then the acknowledgement.

A connection may carry several MNs (some loggers serve several outlets). Each packet is checked
against the registry (MN registered, PW matching, CRC variant allowed for that device); every
packet, accepted or not, is archived with its outcome. Replies (9014 for uploads that ask, 9013
for notices, 9014 for heartbeats) are sent only once the packet is durable, in arrival order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from offsite.gateway.directory import KnownDevice
from offsite.hj212.crc import CrcVariant
from offsite.hj212.decoder import DecodeOptions, Decoder, decode, peek_header
from offsite.hj212.encoder import encode
from offsite.hj212.errors import HJ212Error
from offsite.hj212.frame import FrameFault
from offsite.hj212.packet import Decoded
from offsite.hj212.reassembly import Reassembler
from offsite.hj212.replies import reply_to
from offsite.store.archive import Incoming

if TYPE_CHECKING:
    from offsite.gateway.server import Gateway

log = logging.getLogger(__name__)

_READ = 65536


@dataclass(slots=True)
class _Outcome:
    incoming: Incoming
    device: KnownDevice | None
    decoded: Decoded | None
    reply: bytes | None
    rejected: bool

    @property
    def device_id(self) -> int | None:
        return self.device.id if self.device else None


class DeviceSession:
    def __init__(self, gateway: Gateway, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.gateway = gateway
        self.reader = reader
        self.writer = writer
        address = writer.get_extra_info("peername")
        self.peer = f"{address[0]}:{address[1]}" if address else "unknown"
        self.peer_ip = address[0] if address else "unknown"
        self.decoder = Decoder(DecodeOptions(framing=gateway.framing))
        # Parts are stored and projected one by one (each repeats DataTime); the reassembler
        # notices messages whose parts never all arrive.
        self.reassembler = Reassembler(timeout=gateway.settings.gateway_split_timeout)
        self.rejections = 0
        self.mns: set[str] = set()
        self.closed = False

    async def run(self) -> None:
        settings = self.gateway.settings
        loop = asyncio.get_running_loop()
        last_data = loop.time()
        try:
            while not self.gateway.closing.is_set():
                # Wake early only while a frame waits for its terminator; an idle connection
                # sleeps until its idle timeout (thousands of connections, few wake-ups).
                idle_left = last_data + settings.gateway_idle_timeout - loop.time()
                timeout = min(settings.gateway_flush_after, idle_left) if self.decoder.pending else idle_left
                try:
                    async with asyncio.timeout(max(timeout, 0.0)):
                        data = await self.reader.read(_READ)
                except TimeoutError:
                    if self.decoder.pending:
                        await self._handle(self.decoder.flush())
                    if loop.time() - last_data >= settings.gateway_idle_timeout:
                        self.gateway.metrics.closed.labels("idle").inc()
                        return
                    continue
                if not data:
                    await self._handle(self.decoder.close())
                    return
                last_data = loop.time()
                await self._handle(self.decoder.feed(data))
                if self.rejections >= settings.gateway_max_rejections:
                    self.gateway.metrics.closed.labels("rejections").inc()
                    log.info("closing %s after %d rejected packets", self.peer, self.rejections)
                    return
        except (ConnectionError, OSError):
            return
        finally:
            self.closed = True
            self.writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.wait_closed()

    async def _handle(self, items: list[Decoded | FrameFault]) -> None:
        if not items:
            return
        received_at = datetime.now(UTC)
        outcomes = [await self._judge(item, received_at) for item in items]
        durable = [self.gateway.ingest.submit(o.incoming, o.device_id, o.decoded) for o in outcomes]
        for outcome, future in zip(outcomes, durable, strict=True):
            try:
                await future
            except Exception as exc:
                raise ConnectionAbortedError("packets could not be made durable; closing without an ack") from exc
            self.gateway.metrics.packets.labels(outcome.incoming.outcome).inc()
            if outcome.device_id is not None:
                self.gateway.presence.seen(outcome.device_id, received_at, self.peer)
            if outcome.reply is not None:
                self.writer.write(outcome.reply)
            if outcome.rejected:
                self.rejections += 1
        await self.writer.drain()
        for outcome in outcomes:
            if outcome.device is not None and outcome.decoded is not None:
                if outcome.decoded.packet.is_split:
                    self.reassembler.add(outcome.decoded, asyncio.get_running_loop().time())
                await self.gateway.after_accept(self, outcome.device, outcome.decoded, received_at)
        self._expire_splits()

    def _expire_splits(self) -> None:
        for lost in self.reassembler.expire(asyncio.get_running_loop().time()):
            self.gateway.metrics.incomplete.inc()
            mn, cn, data_time, pnum = lost.key
            log.warning(
                "split message from %s CN=%s DataTime=%s: parts %s of %d never arrived",
                mn,
                cn,
                data_time,
                ",".join(map(str, lost.missing)),
                pnum,
            )

    async def send(self, data: bytes) -> None:
        """Write to the device (a request from the platform); a closed connection drops it."""
        if self.closed:
            return
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (ConnectionError, OSError):
            self.closed = True

    async def _judge(self, item: Decoded | FrameFault, received_at: datetime) -> _Outcome:
        if isinstance(item, FrameFault) and item.error.code == "crc_mismatch":
            item = await self._legacy_crc(item)
        if isinstance(item, FrameFault):
            header = peek_header(item.raw[6:]) if item.raw.startswith(b"##") else {}
            incoming = Incoming(
                data=item.raw,
                peer=self.peer,
                received_at=received_at,
                outcome=item.error.code,
                error=item.error.message,
                mn=header.get("MN"),
                cn=header.get("CN"),
                qn=header.get("QN"),
            )
            return _Outcome(incoming, None, None, None, rejected=True)
        packet = item.packet
        device = await self.gateway.lookup(packet.mn)
        outcome, error = "ok", None
        if device is None:
            outcome, error = "unknown_mn", f"MN {packet.mn!r} is not registered"
        elif packet.pw != device.password:
            outcome, error = "bad_password", f"PW does not match the one registered for MN {packet.mn}"
        elif item.crc.variant not in device.crc_variants:
            outcome, error = "crc_variant", f"CRC variant {item.crc.variant.value} is not allowed for MN {packet.mn}"
        incoming = Incoming(
            data=item.frame.raw,
            peer=self.peer,
            received_at=received_at,
            outcome=outcome,
            error=error,
            mn=packet.mn,
            cn=packet.cn,
            qn=packet.qn,
        )
        if outcome != "ok":
            return _Outcome(incoming, None, None, None, rejected=True)
        assert device is not None
        self.mns.add(device.mn)
        reply = reply_to(packet)
        return _Outcome(incoming, device, item, encode(reply) if reply else None, rejected=False)

    async def _legacy_crc(self, fault: FrameFault) -> Decoded | FrameFault:
        """A CRC mismatch from a device registered with a legacy CRC variant is decoded with it."""
        header = peek_header(fault.raw[6:]) if fault.raw.startswith(b"##") else {}
        device = await self.gateway.lookup(header.get("MN"))
        if device is None or device.crc_variants == (CrcVariant.HJ212,):
            return fault
        try:
            return decode(fault.raw, DecodeOptions(framing=self.gateway.framing, crc_variants=device.crc_variants))
        except HJ212Error:
            return fault
