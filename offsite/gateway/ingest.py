"""The write path: group commit into the archive (the ack point), the spool when the database
is down, then projection into the store.

Sessions hand packets to ``submit`` and get a future that resolves once the packet is durable;
only then do they acknowledge the device. One writer task takes packets in arrival order and
commits them in batches, so archive order is receive order and a slow database delays acks
rather than losing packets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from offsite.gateway.directory import DeviceDirectory
from offsite.gateway.metrics import Metrics
from offsite.gateway.projection import Accepted, Projector, is_outage, project_pending
from offsite.gateway.spool import Spool, Spooled
from offsite.hj212.crc import CrcVariant
from offsite.hj212.decoder import DecodeOptions, decode
from offsite.hj212.errors import HJ212Error
from offsite.hj212.frame import FramingOptions
from offsite.hj212.packet import Decoded
from offsite.store.archive import ArchiveWriter, Incoming, bounded
from offsite.store.headstate import ForeignRecords, HeadState
from offsite.store.signing import Signer

log = logging.getLogger(__name__)

_ALL_VARIANTS = tuple(CrcVariant)
"""A spooled packet was accepted (its CRC checked) before it was spooled."""


_Item = tuple[Incoming, int | None, Decoded | None]
"""A packet to archive, with the device and decoding the session already found."""


@dataclass(slots=True)
class _Pending:
    incoming: Incoming
    device_id: int | None
    decoded: Decoded | None
    future: asyncio.Future[None]
    queued_at: float
    taken: bool = False
    """Spooled already (by the overdue path or the writer), so never spooled a second time."""


class Ingest:
    def __init__(
        self,
        engine: Engine,
        writer: str,
        spool: Spool,
        metrics: Metrics,
        *,
        batch_size: int,
        batch_wait: float,
        checkpoint_every: int,
        framing: FramingOptions,
        directory: DeviceDirectory,
        ack_deadline: float = 5.0,
        queue_limit: int = 20000,
        signer: Signer | None = None,
        head_state: HeadState | None = None,
        quarantine: Spool | None = None,
        checkpoint_seconds: float | None = None,
    ) -> None:
        self.engine = engine
        self.writer_name = writer
        self.spool = spool
        self.metrics = metrics
        self.batch_size = batch_size
        self.batch_wait = batch_wait
        self.checkpoint_every = checkpoint_every
        self.framing = framing
        self.projector = Projector()
        self.directory = directory
        self.signer = signer
        self.head_state = head_state
        self.checkpoint_seconds = checkpoint_seconds
        self.quarantine = quarantine
        """Packets the archive refused even without their header fields: kept, counted, never lost."""
        self._tamper_logged = -1e9
        self._behind = False  # an outage interrupted projection: catch up from the marks
        self._archive: ArchiveWriter | None = None
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._projections: asyncio.Queue[list[Accepted]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._projector_task: asyncio.Task[None] | None = None
        self._project_lock = threading.Lock()
        self._spooled = spool.pending()
        self._lock = threading.Lock()  # the writer task and the spool retry never write at once
        self._spool_lock = threading.Lock()  # the spool is also written by the overdue path
        self.ack_deadline = ack_deadline
        self.queue_limit = queue_limit
        self._room = asyncio.Event()
        self._room.set()
        self._stuck: asyncio.Future[list[Accepted]] | None = None
        self._spool_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="offsite-spool")
        self._archived_late: set[tuple[datetime, bytes]] = set()
        """Packets an overdue write committed after they were spooled: skipped when replayed."""
        metrics.spool_depth.set(self._spooled)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="offsite-ingest")
        self._projector_task = asyncio.create_task(self._project_loop(), name="offsite-projection")

    async def stop(self, grace: float = 30.0) -> None:
        """Commit (or spool) everything submitted, project it, then stop. Every packet is made durable
        (a stuck write is bridged by the spool past the ack deadline); projection is waited for at most
        ``grace`` seconds — what it leaves is projected from the chain's mark at the next start."""
        await self._queue.join()
        try:
            async with asyncio.timeout(grace):
                await self._projections.join()
        except TimeoutError:
            log.warning(
                "stopping with %d batches not projected: the next start projects them", self._projections.qsize()
            )
        for task in (self._task, self._projector_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._spool_executor.shutdown(wait=False)

    def submit(self, incoming: Incoming, device_id: int | None, decoded: Decoded | None) -> asyncio.Future[None]:
        """Queue a packet; the future resolves once it is durable (archived, or spooled)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(incoming, device_id, decoded, future, time.monotonic()))
        if self._queue.qsize() >= self.queue_limit:
            self._room.clear()
        return future

    async def room(self) -> None:
        """Wait while the queue is full: sessions call this before reading from their sockets, so a
        slow database slows the devices (TCP back-pressure) instead of growing the gateway's memory."""
        await self._room.wait()

    @property
    def spooled(self) -> int:
        return self._spooled

    async def _run(self) -> None:
        while True:
            batch = await self._next_batch()
            try:
                if self._stuck is not None and not self._stuck.done():
                    await self._on_spool_thread(batch)
                else:
                    await self._write_or_spool(batch)
            except Exception as exc:
                # Neither the archive nor the spool took the batch: those packets are not
                # durable, so they must not be acknowledged (the devices will send them again).
                log.exception("could not make %d packets durable", len(batch))
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(exc)
            finally:
                for _ in batch:
                    self._queue.task_done()
                if self._queue.qsize() < self.queue_limit:
                    self._room.set()

    async def _next_batch(self) -> list[_Pending]:
        batch = [await self._queue.get()]
        deadline = time.monotonic() + self.batch_wait
        while len(batch) < self.batch_size:
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), timeout))
            except TimeoutError:
                break
        return batch

    async def _write_or_spool(self, batch: list[_Pending]) -> None:
        """Write the batch; if the database has not answered by the ack deadline, spool it instead
        and keep spooling until that write returns (a hung database: no error ever comes)."""
        write = asyncio.ensure_future(asyncio.to_thread(self._write, batch))
        done, _ = await asyncio.wait({write}, timeout=self.ack_deadline)
        if write in done:
            accepted = write.result()
            if accepted:
                # Projection runs beside the next commits: acks wait only for the archive.
                self._projections.put_nowait(accepted)
            return
        log.error("the database has not answered for %.1f s; spooling until it does", self.ack_deadline)
        self.metrics.overdue.inc()
        self._stuck = write
        write.add_done_callback(self._after_stuck)
        await self._on_spool_thread(batch)

    async def _on_spool_thread(self, batch: list[_Pending]) -> None:
        # a thread of its own: the default pool's threads may all be waiting on a hung database
        await asyncio.get_running_loop().run_in_executor(self._spool_executor, self._spool_only, batch)

    def _after_stuck(self, write: asyncio.Future[list[Accepted]]) -> None:
        if write.cancelled():
            return
        if (exc := write.exception()) is not None:
            log.error("the overdue write failed at last: %s", _first_line(exc))
            return
        log.warning("the database answered an overdue write; back to writing through it")
        if accepted := write.result():
            self._projections.put_nowait(accepted)

    def _spool_only(self, batch: list[_Pending]) -> None:
        """Make the batch durable in the spool alone (the writer is stuck on the database)."""
        with self._spool_lock:
            rest = [p for p in batch if not p.taken]
            self._spool(rest)
        self._release(batch)

    def _spool(self, pendings: list[_Pending]) -> None:
        """Append to the spool (the caller holds the spool lock)."""
        if not pendings:
            return
        self.spool.append([Spooled(p.incoming, p.device_id) for p in pendings])
        for pending in pendings:
            pending.taken = True
        self._spooled += len(pendings)
        self.metrics.spool_depth.set(self._spooled)

    def _release(self, batch: list[_Pending]) -> None:
        now = time.monotonic()
        for pending in batch:
            self.metrics.ack_latency.observe(now - pending.queued_at)
            pending.future.get_loop().call_soon_threadsafe(_resolve, pending.future)

    async def _project_loop(self) -> None:
        while True:
            items = await self._projections.get()
            try:
                await asyncio.to_thread(self._project, items)
            except Exception:
                log.exception("projection of %d packets failed", len(items))
            finally:
                self._projections.task_done()

    def _write(self, batch: list[_Pending]) -> list[Accepted]:
        """Runs in a worker thread: make the batch durable and release the acks."""
        with self._lock:
            return self._write_locked(batch)

    def _write_locked(self, batch: list[_Pending]) -> list[Accepted]:
        accepted: list[Accepted] = []
        done = 0
        if self._spooled:
            self._replay()
        if not self._spooled:
            accepted, done = self._archive_in_order([(p.incoming, p.device_id, p.decoded) for p in batch])
        with self._spool_lock:
            # an overdue batch may have been spooled while this write was committing it: then its
            # replay skips it; else the overdue path must not spool it any more
            for pending in batch[:done]:
                if pending.taken:
                    self._archived_late.add(_key(pending.incoming))
                pending.taken = True
            self._spool([p for p in batch[done:] if not p.taken])
        self._release(batch)
        return accepted

    def _archive_in_order(self, items: list[_Item]) -> tuple[list[Accepted], int]:
        """Archive ``items`` in order; returns what was archived and how many items were taken.

        An outage, or a chain this writer did not leave, stops it (the rest is for the spool). A
        batch that fails on its data is taken one packet at a time, and a packet that fails alone
        is archived as ``unstorable`` with its bytes and the reason — or, should even that fail,
        kept in the quarantine spool and counted — so one odd packet never blocks the archive or
        the spool behind it.
        """
        try:
            return self._append(items), len(items)
        except Exception as exc:
            if self._cannot_write(exc):
                return [], 0
            log.exception("a batch of %d packets failed on its data; archiving them one by one", len(items))
        accepted: list[Accepted] = []
        for taken, item in enumerate(items):
            try:
                accepted += self._append([item])
            except Exception as exc:
                if self._cannot_write(exc):
                    return accepted, taken
                log.exception("packet from %s cannot be archived as received; keeping it as unstorable", item[0].peer)
                self.metrics.unstorable.inc()
                try:
                    accepted += self._append([(unstorable(item[0], exc), None, None)])
                except Exception as again:
                    if self._cannot_write(again):
                        return accepted, taken
                    self._quarantine(item, again)
        return accepted, len(items)

    def _cannot_write(self, exc: BaseException) -> bool:
        """An outage, or a chain in the database that this writer did not leave: spool, and say so."""
        if isinstance(exc, ForeignRecords | IntegrityError):
            # someone else wrote to this chain (or took its seqs): never chain on what we did not
            # write; packets wait in the spool until an administrator has looked
            self.metrics.tampered.inc()
            now = time.monotonic()
            if now - self._tamper_logged >= 60.0:
                self._tamper_logged = now
                log.critical("archive chain %s: %s; spooling", self.writer_name, _first_line(exc))
            return True
        if is_outage(exc):
            log.warning("archive unavailable (%s); spooling", _first_line(exc))
            return True
        return False

    def _quarantine(self, item: _Item, exc: BaseException) -> None:
        log.critical("packet from %s refused even as unstorable (%s); kept in quarantine", item[0].peer, exc)
        self.metrics.quarantined.inc()
        if self.quarantine is None:
            raise exc
        with self._spool_lock:
            self.quarantine.append([Spooled(item[0], item[1])])

    def _append(self, items: list[_Item]) -> list[Accepted]:
        try:
            archived = self._writer().append([incoming for incoming, _, _ in items])
        except Exception:
            self._archive = None  # the chain head is read again, from what was committed
            raise
        return [
            Accepted(a, bounded(incoming), device_id, decoded)
            for a, (incoming, device_id, decoded) in zip(archived, items, strict=True)
        ]

    def _project(self, items: list[Accepted]) -> None:
        with self._project_lock:
            self._project_locked(items)

    def _project_locked(self, items: list[Accepted]) -> None:
        if self._behind:
            try:
                project_pending(self.engine, self.directory, framing=self.framing)
            except Exception as exc:
                if not is_outage(exc):
                    raise
                return
            self._behind = False
            return  # the catch-up covered this batch too
        if not self.projector.project_isolated(self.engine, self.writer_name, items):
            self._behind = True

    def _writer(self) -> ArchiveWriter:
        if self._archive is None:
            self._archive = ArchiveWriter(
                self.engine,
                self.writer_name,
                checkpoint_every=self.checkpoint_every,
                signer=self.signer,
                state=self.head_state,
                checkpoint_seconds=self.checkpoint_seconds,
            )
        return self._archive

    def _replay(self) -> None:
        """Move the spool into the archive, in order, batch by batch; stop at an outage.

        The spool may grow meanwhile (the overdue path appends to it), so it is cleared only
        under the spool lock, once a read under that lock finds nothing left."""
        replayed = 0
        while True:
            with self._spool_lock:
                done = self.spool.replayed()
                waiting = self.spool.read()
                if not waiting:
                    self.spool.clear()
                    self._spooled = 0
                    self.metrics.spool_depth.set(0)
                    if replayed:
                        log.info("replayed %d spooled packets into the archive", replayed)
                    return
                chunk = list(waiting[: self.batch_size])
            fresh = [i for i, r in enumerate(chunk) if _key(r.incoming) not in self._archived_late]
            items = [(chunk[i].incoming, chunk[i].device_id, self._decoded(chunk[i])) for i in fresh]
            accepted, archived = self._archive_in_order(items)
            taken = len(chunk) if archived == len(fresh) else fresh[archived]
            self._archived_late.difference_update(_key(r.incoming) for r in chunk[:taken])
            with self._spool_lock:
                self.spool.mark_replayed(done + taken)
                self._spooled = self.spool.pending()
                self.metrics.spool_depth.set(self._spooled)
            replayed += taken
            if accepted:
                self._project(accepted)
            if taken < len(chunk):
                log.warning("database still unavailable; %d packets stay spooled", self._spooled)
                return

    def _decoded(self, record: Spooled) -> Decoded | None:
        if record.incoming.outcome != "ok" or record.device_id is None:
            return None
        try:
            return decode(record.incoming.data, DecodeOptions(framing=self.framing, crc_variants=_ALL_VARIANTS))
        except HJ212Error:
            return None

    async def retry_spool(self, every: float) -> None:
        """While packets wait in the spool and no traffic arrives, keep trying to replay them."""
        while True:
            await asyncio.sleep(every)
            if self._spooled and self._queue.empty():
                await asyncio.to_thread(self._replay_locked)

    def _replay_locked(self) -> None:
        with self._lock:
            if self._spooled:
                self._replay()


def unstorable(packet: Incoming, exc: BaseException) -> Incoming:
    """A packet the archive refused as received: its bytes and time, no header fields, and why."""
    return Incoming(
        data=packet.data,
        peer=packet.peer,
        received_at=packet.received_at,
        outcome="unstorable",
        error=f"archived without its header fields: {_first_line(exc)}",
    )


def _first_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text.splitlines()[0][:500] if text else type(exc).__name__


def _key(packet: Incoming) -> tuple[datetime, bytes]:
    """A received packet, told apart from every other: its receive time and its bytes."""
    return packet.received_at, packet.data


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
