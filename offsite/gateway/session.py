"""One device connection: framing, the device check, durable write, then the acknowledgement.

A connection may carry several MNs (some loggers serve several outlets). Each packet is checked
against the registry (MN registered, password attempts not backed off (``guard``), PW matching,
CRC variant allowed for that device); every packet, accepted or not, is archived with its
outcome. Replies (9014 for uploads that ask, 9013 for notices, 9014 for heartbeats) are built
only once the packet is durable, in arrival order; a packet whose reply cannot be encoded (a QN
holding ``&``) stays archived and goes unanswered, and the rest of the read is unaffected.

What one peer may cost is bounded:

- rejections: items are judged one by one and judging stops at ``gateway_max_rejections``, even
  in the middle of a read; after ``gateway_junk_archived`` rejected frames, once the address's
  junk budget is spent (``guard.AddressGuard``), and for the rest of a read past the cap, frames
  go into one ``junk_summary`` record (``junk``) instead of the archive;
- time: the idle timeout restarts only when a frame (or a fault) comes out of the decoder, never on
  bytes alone (a line feed every few minutes does not keep a socket); a frame that has started must be
  complete within ``gateway_frame_deadline``; a connection without one accepted packet is closed
  after ``gateway_auth_deadline``, and is the first to go when the gateway is at its connection
  cap (``Gateway._accept``);
- writes: ``send`` never waits. Its bytes go to the transport, whose buffer is the session's send
  queue: bounded by ``gateway_send_buffer``, and emptied by a drain task under
  ``gateway_write_timeout``. A peer that overflows it or does not read in time is closed, and
  nobody else (the command loop, other devices) ever waits for it.

What an accepted packet calls for (command results, clock setting, backfill) is decided in memory;
its database writes are the commander's (``commands``), so a hung database never stops a session
from acknowledging the packets that follow.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from offsite.gateway.directory import KnownDevice
from offsite.gateway.junk import JunkSummary
from offsite.hj212.crc import CrcVariant
from offsite.hj212.decoder import DecodeOptions, Decoder, decode, peek_header
from offsite.hj212.encoder import encode
from offsite.hj212.errors import HJ212Error
from offsite.hj212.frame import FrameFault
from offsite.hj212.packet import Decoded
from offsite.hj212.reassembly import Reassembler, ranges
from offsite.hj212.replies import reply_to
from offsite.store.archive import Incoming

if TYPE_CHECKING:
    from offsite.gateway.server import Gateway

log = logging.getLogger(__name__)

READ_SIZE = 65536
"""Bytes asked of the socket at a time (the server's stream limit is set from it)."""
FEED_SIZE = 1024
"""Bytes decoded at a time from a connection without accepted packets, or with rejected ones
(real loggers' frames are about 1 kB; a flood is cut short at the cap)."""
_DRAIN_POLL = 0.01
"""Seconds between looks at a transport that holds bytes without pausing its writer."""


@dataclass(slots=True)
class _Outcome:
    incoming: Incoming
    device: KnownDevice | None
    decoded: Decoded | None
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
        self.junk = JunkSummary()
        self.mns: set[str] = set()
        """MNs whose right password this connection has sent."""
        self.closed = False
        """No more writes: the session ended, or the peer was cut off."""
        self._aborted = False
        self._drainer: asyncio.Task[None] | None = None
        # Pause (and so make drain() wait) as soon as any byte is left over by the kernel: a
        # drain then ends only once everything written has left, which the write timeout bounds.
        writer.transport.set_write_buffer_limits(high=0)

    @property
    def capped(self) -> bool:
        """The connection reached its rejection cap: nothing more of it is judged."""
        return self.rejections >= self.gateway.settings.gateway_max_rejections

    async def run(self) -> None:
        settings = self.gateway.settings
        loop = asyncio.get_running_loop()
        opened = last_frame = loop.time()  # last_frame: when a frame or fault last came out
        frame_started: float | None = None  # when the bytes waiting for the rest of a frame began
        flushed = False  # the pending bytes were flushed once already: flushing again releases nothing
        try:
            while not self.gateway.closing.is_set() and not self.closed:
                # While the write queue is full, read nothing (TCP back-pressure on the device); the
                # time spent waiting is the gateway's, not the device's silence or slowness.
                paused = loop.time()
                await self.gateway.ingest.room()
                if (waited := loop.time() - paused) > 0:
                    opened += waited
                    last_frame += waited
                    if frame_started is not None:
                        frame_started += waited
                # Wake early only while a frame waits for its terminator (and at its deadline); an
                # idle connection sleeps until its idle timeout (thousands of connections, few wake-ups).
                now = loop.time()
                if self.decoder.pending:  # a frame (or junk) in progress: bounded by the frame deadline
                    timeout = 0.0 if frame_started is None else frame_started + settings.gateway_frame_deadline - now
                    if not flushed:
                        timeout = min(timeout, settings.gateway_flush_after)
                else:
                    timeout = last_frame + settings.gateway_idle_timeout - now
                if not self.mns:
                    timeout = min(timeout, opened + settings.gateway_auth_deadline - now)
                try:
                    async with asyncio.timeout(max(timeout, 0.0)):
                        data = await self.reader.read(READ_SIZE)
                except TimeoutError:
                    if self.decoder.pending and not flushed:
                        items = self.decoder.flush()
                        now = loop.time()
                        if items:
                            last_frame = now
                        flushed = not items
                        frame_started = _frame_start(frame_started, bool(items), self.decoder.pending, now)
                        await self._handle(items)
                        if self.capped:
                            self._cut_off()
                            return
                    now = loop.time()
                    if frame_started is not None and now - frame_started >= settings.gateway_frame_deadline:
                        self.gateway.metrics.closed.labels("frame_deadline").inc()
                        log.info(
                            "closing %s: a frame begun %.0f s ago is still incomplete (%d bytes)",
                            self.peer,
                            now - frame_started,
                            self.decoder.pending,
                        )
                        await self._handle(self.decoder.close())  # archived as truncated
                        return
                    if not self.mns and now - opened >= settings.gateway_auth_deadline:
                        self.gateway.metrics.closed.labels("unauthenticated").inc()
                        log.info("closing %s: no accepted packet in %.0f s", self.peer, now - opened)
                        await self._handle(self.decoder.close())
                        return
                    if not self.decoder.pending and now - last_frame >= settings.gateway_idle_timeout:
                        self.gateway.metrics.closed.labels("idle").inc()
                        await self._handle(self.decoder.close())
                        return
                    continue
                if not data:
                    await self._handle(self.decoder.close())
                    return
                flushed = False
                # a read is decoded a slice at a time, so that a flood stops costing at the
                # rejection cap: what comes after it is hashed into the summary, never parsed
                # (a connection that has sent accepted packets and nothing rejected decodes its read
                # whole: its pipelined uploads are then committed as one group)
                step = len(data) if self.mns and not self.rejections else FEED_SIZE
                for start in range(0, len(data), step):
                    now = loop.time()
                    items = self.decoder.feed(data[start : start + step])
                    if items:
                        last_frame = now
                    frame_started = _frame_start(frame_started, bool(items), self.decoder.pending, now)
                    await self._handle(items)
                    if self.capped:
                        self._cut_off()
                        self.junk.add_unparsed(data[start + step :])
                        return
        except (ConnectionError, OSError):
            return
        finally:
            await self._finish()

    def _cut_off(self) -> None:
        self.gateway.metrics.closed.labels("rejections").inc()
        log.info("closing %s after %d rejected packets", self.peer, self.rejections)
        self._fold(self.decoder.close())  # what is left of the stream is not judged either

    def _fold(self, items: list[Decoded | FrameFault]) -> None:
        """Frames past the rejection cap: into the junk summary, unjudged."""
        self.junk.add_unjudged(items)
        self.gateway.metrics.unarchived.inc(len(items))

    def evict(self, detail: str) -> None:
        """Close at once to make room for a newcomer (this connection sent no accepted packet)."""
        self._abort("evicted", detail, level=logging.INFO)

    async def _finish(self) -> None:
        """Archive the junk summary, let the last acks leave (within the write timeout), close."""
        self.closed = True
        addresses = self.gateway.addresses
        if self.rejections and not self.mns and addresses.rejected_connection(self.peer_ip):
            log.warning("%s", addresses.refusal(self.peer_ip) or f"{self.peer_ip} is refused for a while")
        summary = None
        if self.junk.count:
            self.gateway.metrics.packets.labels("junk_summary").inc()
            summary = self.gateway.ingest.submit(self.junk.incoming(self.peer, datetime.now(UTC)), None, None)
        if self._drainer is not None:
            await asyncio.gather(self._drainer, return_exceptions=True)
        transport = self.writer.transport
        if transport.get_write_buffer_size():
            transport.abort()
        else:
            self.writer.close()
        with contextlib.suppress(ConnectionError, OSError, TimeoutError):
            async with asyncio.timeout(self.gateway.settings.gateway_write_timeout):
                await self.writer.wait_closed()
        if summary is not None:
            try:
                await summary
            except Exception:
                log.exception("the junk summary of %s could not be made durable", self.peer)

    async def _handle(self, items: list[Decoded | FrameFault]) -> None:
        if not items:
            return
        settings = self.gateway.settings
        metrics = self.gateway.metrics
        received_at = datetime.now(UTC)
        submitted: list[tuple[_Outcome, asyncio.Future[None]]] = []
        for index, item in enumerate(items):
            if self.capped:
                self._fold(items[index:])
                break
            outcome = await self._judge(item, received_at)
            if outcome.rejected:
                self.rejections += 1
                if self.rejections > settings.gateway_junk_archived or not self.gateway.addresses.spend(self.peer_ip):
                    metrics.packets.labels(outcome.incoming.outcome).inc()
                    metrics.unarchived.inc()
                    self.junk.add(outcome.incoming.data, outcome.incoming.outcome, outcome.incoming.mn)
                    continue
            future = self.gateway.ingest.submit(outcome.incoming, outcome.device_id, outcome.decoded)
            submitted.append((outcome, future))
        for outcome, future in submitted:
            try:
                await future
            except Exception as exc:
                raise ConnectionAbortedError("packets could not be made durable; closing without an ack") from exc
            metrics.packets.labels(outcome.incoming.outcome).inc()
            if outcome.device_id is not None:
                self.gateway.presence.seen(outcome.device_id, received_at, self.peer)
            if outcome.decoded is not None and not outcome.rejected:
                reply = self._reply(outcome.decoded)
                if reply is not None:
                    self.send(reply)
        for outcome, _ in submitted:
            if outcome.device is not None and outcome.decoded is not None:
                if outcome.decoded.packet.is_split:
                    self.reassembler.add(outcome.decoded, asyncio.get_running_loop().time())
                try:  # never waits for the database; whatever fails there is not the device's
                    self.gateway.after_accept(self, outcome.device, outcome.decoded, received_at)
                except Exception:
                    packet = outcome.decoded.packet
                    log.exception(
                        "what CN=%s QN=%s from MN %s calls for failed (it is acknowledged)",
                        packet.cn,
                        packet.qn,
                        packet.mn,
                    )
        self._expire_splits()

    def _reply(self, decoded: Decoded) -> bytes | None:
        """The encoded answer to an archived packet; None if none is due or it cannot be written."""
        packet = decoded.packet
        try:
            answer = reply_to(packet)
            return None if answer is None else encode(answer)
        except (HJ212Error, ValueError) as exc:
            self.gateway.metrics.unreplied.inc()
            log.warning(
                "no reply to CN=%s QN=%r from MN %s at %s (the packet is archived): %s",
                packet.cn,
                packet.qn,
                packet.mn,
                self.peer,
                exc,
            )
            return None

    def _expire_splits(self) -> None:
        for lost in self.reassembler.expire(asyncio.get_running_loop().time()):
            self.gateway.metrics.incomplete.inc()
            mn, cn, data_time, pnum = lost.key
            log.warning(
                "split message from %s CN=%s DataTime=%s: parts %s of %d never arrived",
                mn,
                cn,
                data_time,
                ranges(lost.missing),
                pnum,
            )

    def send(self, data: bytes) -> bool:
        """Queue bytes for the device (an ack, a request from the platform) without waiting.

        False if they were dropped: the connection is closed, or is being closed now because its
        send buffer overflowed.
        """
        if self.closed:
            return False
        transport = self.writer.transport
        if transport.is_closing():
            self.closed = True
            return False
        self.writer.write(data)
        waiting = transport.get_write_buffer_size()
        if waiting > self.gateway.settings.gateway_send_buffer:
            self._abort("send_overflow", f"{waiting} bytes wait for it to read")
            return False
        if waiting and self._drainer is None:
            self._drainer = asyncio.create_task(self._drain(), name=f"offsite-drain-{self.peer}")
        return True

    async def _drain(self) -> None:
        """Wait (within the write timeout) until every byte written has left; else cut the peer off."""
        transport = self.writer.transport
        timeout = self.gateway.settings.gateway_write_timeout
        try:
            async with asyncio.timeout(timeout):
                while transport.get_write_buffer_size() and not transport.is_closing():
                    await self.writer.drain()
                    if transport.get_write_buffer_size():
                        await asyncio.sleep(_DRAIN_POLL)
        except TimeoutError:
            self._abort("write_timeout", f"it read nothing of {transport.get_write_buffer_size()} bytes in {timeout} s")
        except (ConnectionError, OSError):
            self.closed = True
        finally:
            self._drainer = None

    def _abort(self, reason: str, detail: str, level: int = logging.WARNING) -> None:
        """Close at once, dropping what waits to be written (the peer does not read it)."""
        self.closed = True
        if self._aborted:
            return
        self._aborted = True
        self.gateway.metrics.closed.labels(reason).inc()
        log.log(level, "closing %s: %s", self.peer, detail)
        self.writer.transport.abort()

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
            return _Outcome(incoming, None, None, rejected=True)
        packet = item.packet
        device = await self.gateway.lookup(packet.mn)
        guard = self.gateway.guard
        outcome, error = "ok", None
        if device is None and packet.mn in self.gateway.directory.unreadable:
            outcome, error = "key_error", f"the stored password of MN {packet.mn} cannot be decrypted with this key"
        elif device is None:
            outcome, error = "unknown_mn", f"MN {packet.mn!r} is not registered"
        elif device.mn not in self.mns and (refusal := guard.refusal(device.mn, self.peer_ip)) is not None:
            outcome, error = "password_locked", refusal
        elif packet.pw != device.password:
            outcome, error = "bad_password", f"PW does not match the one registered for MN {packet.mn}"
            if device.mn not in self.mns:  # a connection that sent the right one is not guessing
                guard.failed(device.mn, self.peer_ip)
        else:
            guard.succeeded(device.mn, self.peer_ip)
            if item.crc.variant not in device.crc_variants:
                outcome = "crc_variant"
                error = f"CRC variant {item.crc.variant.value} is not allowed for MN {packet.mn}"
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
            return _Outcome(incoming, None, None, rejected=True)
        assert device is not None
        if not self.mns:
            self.gateway.authenticated(self)
        self.mns.add(device.mn)
        self.gateway.addresses.accepted(self.peer_ip)
        return _Outcome(incoming, device, item, rejected=False)

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


def _frame_start(started: float | None, completed: bool, pending: int, now: float) -> float | None:
    """When the bytes still pending began arriving: a frame that completed starts the clock again."""
    if not pending:
        return None
    if completed or started is None:
        return now
    return started
