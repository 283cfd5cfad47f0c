"""The gateway process: the TCP server, its sessions, and the tasks that keep it honest."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import IO

from prometheus_client import start_http_server
from sqlalchemy import Engine

from offsite.db import make_engine
from offsite.gateway.clock import drift
from offsite.gateway.commands import Commander
from offsite.gateway.directory import DeviceDirectory, KnownDevice
from offsite.gateway.gaps import GapTracker
from offsite.gateway.guard import AddressGuard, PasswordGuard
from offsite.gateway.ingest import Ingest
from offsite.gateway.metrics import Metrics
from offsite.gateway.presence import Presence
from offsite.gateway.projection import is_outage, project_pending
from offsite.gateway.session import READ_SIZE, DeviceSession
from offsite.gateway.spool import Spool
from offsite.gateway.writers import SpoolElsewhere, claim_spool, lock_spool
from offsite.hj212.frame import FramingOptions
from offsite.hj212.packet import Decoded
from offsite.hj212.requests import Target, history, set_time
from offsite.hj212.times import make_qn
from offsite.hj212.version import Version
from offsite.registry.passwords import PasswordKeyError, cipher
from offsite.settings import Settings
from offsite.store.headstate import HeadState
from offsite.store.signing import signer

log = logging.getLogger(__name__)

DIRECTORY_RELOAD_EVERY = 60.0
"""Seconds between two reloads of the registry's devices."""


class Gateway:
    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine or make_engine(settings.database_url)
        self.framing = FramingOptions(max_length=settings.gateway_max_length)
        self.metrics = Metrics()
        self.directory = DeviceDirectory(
            self.engine, cipher(settings), snapshot=settings.data_dir / "devices" / f"{settings.archive_writer}.json"
        )
        self.presence = Presence(settings.gateway_offline_after)
        # held before the spool is opened: opening cuts a torn tail, which must never be another
        # live gateway's append in progress
        self._spool_lock: IO[str] | None = lock_spool(settings.spool_dir)
        self._checked = False
        """The start-up checks that need the database (registry, spool claim, projection) are done."""
        self.spool = Spool(settings.spool_dir)
        self.ingest = Ingest(
            self.engine,
            settings.archive_writer,
            self.spool,
            self.metrics,
            batch_size=settings.gateway_batch_size,
            batch_wait=settings.gateway_batch_wait,
            checkpoint_every=settings.archive_checkpoint_every,
            framing=self.framing,
            directory=self.directory,
            ack_deadline=settings.gateway_ack_deadline,
            signer=signer(settings.data_dir, create=True),
            head_state=HeadState(settings.data_dir / "chains" / f"{settings.archive_writer}.head"),
            quarantine=Spool(settings.data_dir / "quarantine" / settings.archive_writer),
            checkpoint_seconds=settings.archive_checkpoint_seconds,
            queue_limit=settings.gateway_queue_limit,
        )
        self.guard = PasswordGuard.from_settings(settings)
        """Wrong passwords per MN and per (MN, address), across connections, and their back-offs."""
        self.addresses = AddressGuard.from_settings(settings)
        """Each address's junk budget, and the back-off of addresses that send only junk."""
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        self.sessions: set[DeviceSession] = set()
        """The open device connections (an evicted one leaves at once)."""
        self._unaccepted: dict[DeviceSession, None] = {}
        """Open connections that have not sent an accepted packet yet, the oldest first."""
        self._per_peer: Counter[str] = Counter()
        self._tasks: list[asyncio.Task[None]] = []
        self._reload: asyncio.Future[None] | None = None
        self.commander = Commander(self)
        self.gaps = GapTracker(timedelta(hours=settings.gateway_backfill_max_hours))
        self._clock_set: dict[int, float] = {}
        self._backfilled: dict[int, float] = {}
        self._qn = 0
        self.closing = asyncio.Event()
        """Set on shutdown: sessions stop reading, acknowledge what was committed, and close."""

    async def start(self) -> tuple[str, int]:
        """Load what is known, project what a previous run left, then listen. Returns (host, port)."""
        try:
            await asyncio.to_thread(self._checks_with_the_database)
        except Exception as exc:
            if isinstance(exc, PasswordKeyError | SpoolElsewhere) or not is_outage(exc):
                self.release()
                raise
            log.error("database unavailable at start (%s); packets will be spooled until it answers", exc)
            if self.directory.load_snapshot():
                log.info("%d devices known from the snapshot of the registry", len(self.directory))
            else:
                log.error("no snapshot of the registry: every device counts as unknown until the database answers")
        self.ingest.start()
        self._tasks = [
            asyncio.create_task(self._sweep(), name="offsite-presence"),
            asyncio.create_task(self.ingest.retry_spool(self.settings.gateway_spool_retry), name="offsite-spool-retry"),
            asyncio.create_task(self.commander.run(), name="offsite-commands"),
            asyncio.create_task(self.commander.write(), name="offsite-command-writes"),
        ]
        if self.settings.gateway_metrics_port is not None:
            start_http_server(
                self.settings.gateway_metrics_port, addr=self.settings.gateway_host, registry=self.metrics.registry
            )
        # What a connection may hold in the gateway's memory: asyncio stops reading the socket once
        # the reader's buffer holds more than twice the limit (sessions stop reading while the
        # archive's queue is full). A session reads READ_SIZE at a time; the limit also exceeds
        # the longest frame ("##", length, data segment, CRC, CRLF).
        limit = max(READ_SIZE, 2 + 4 + self.framing.max_length + 4 + 2 + 1)
        self._server = await asyncio.start_server(
            self._accept, self.settings.gateway_host, self.settings.gateway_port, limit=limit, backlog=4096
        )
        host, port = self._server.sockets[0].getsockname()[:2]
        log.info("gateway listening on %s:%d", host, port)
        return host, port

    def _checks_with_the_database(self) -> None:
        """What start-up needs the database for; done again by the sweep until it has succeeded
        once, when the gateway started while the database was away."""
        self.directory.load()
        claim_spool(self.engine, self.settings.archive_writer, self.spool.directory)
        self.presence.load(self.engine)
        self._trust_known_addresses()
        done = project_pending(self.engine, self.directory, framing=self.framing)
        if done:
            log.info("projected %d packets archived by an earlier run", done)
        self._checked = True

    def _trust_known_addresses(self) -> None:
        # a restart must not forget where each device calls from: an MN backed off by a guesser
        # elsewhere still hears its own device from its last address
        now = datetime.now(UTC)
        by_id = {device.id: device.mn for device in self.directory.devices()}
        for device_id, (peer, last_seen) in self.presence.last_peers().items():
            if device_id in by_id:
                self.guard.trust_from(by_id[device_id], peer.rsplit(":", 1)[0], (now - last_seen).total_seconds())

    async def _check_late(self) -> None:
        try:
            await asyncio.to_thread(self._checks_with_the_database)
        except SpoolElsewhere as exc:  # acknowledged packets wait elsewhere: said, loudly, until seen to
            log.critical("%s", exc)
        except Exception as exc:
            if not is_outage(exc):
                log.exception("start-up checks failed once the database answered")
        else:
            log.info("the database answers: start-up checks done, %d devices known", len(self.directory))

    async def stop(self, grace: float = 5.0) -> None:
        """Stop accepting, let sessions acknowledge what they received and close, commit, then stop."""
        self.closing.set()
        if self._server is not None:
            self._server.close()
        if self._sessions:
            _, late = await asyncio.wait(set(self._sessions), timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self.commander.flush()  # the last command states, unless the database hangs
        await self.ingest.stop(grace)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            async with asyncio.timeout(grace):
                await asyncio.to_thread(self.presence.flush, self.engine)
        except Exception as exc:  # the database is away or hung: presence is rebuilt from the next packets
            if not (isinstance(exc, TimeoutError) or is_outage(exc)):
                raise
            log.warning("device presence not saved at stop: the database does not answer")
        self.release()

    def release(self) -> None:
        """Let go of the spool (a gateway that never started, or has stopped)."""
        if self._spool_lock is not None:
            self._spool_lock.close()
            self._spool_lock = None

    async def lookup(self, mn: str | None) -> KnownDevice | None:
        """The registered device of ``mn``. An unknown MN reloads a stale registry, waiting for it
        no longer than the ack deadline (the load goes on: a hung database holds no session)."""
        device = self.directory.get(mn)
        if device is None and mn and self.directory.stale():
            if self._reload is None or self._reload.done():
                self._reload = asyncio.ensure_future(asyncio.to_thread(self.directory.load))
                self._reload.add_done_callback(_quietly)
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.settings.gateway_ack_deadline):
                    await asyncio.shield(self._reload)
            device = self.directory.get(mn)
        return device

    def after_accept(
        self, session: DeviceSession, device: KnownDevice, decoded: Decoded, received_at: datetime
    ) -> None:
        """What a durable, acknowledged packet calls for: command results, clock setting, backfill.

        Decided in memory; the database writes and the requests go to the commander's write task,
        so a slow or hung database never holds the session (nor the acks of its later packets)."""
        packet = decoded.packet
        if packet.cn in ("9011", "9012"):
            self.commander.on_reply(device.id, packet)
            return
        now = time.monotonic()
        target = Target(device.mn, device.password, packet.st or "31", _version(device.version))
        backfilling = self.commander.outstanding(device.id, "2051") or self.commander.outstanding(device.id, "2061")
        offset = None if backfilling else drift(decoded, received_at)
        if (
            offset is not None
            and abs(offset) > self.settings.gateway_clock_bound
            and now - self._clock_set.get(device.id, -1e18) >= self.settings.gateway_clock_period
            and not self.commander.outstanding(device.id, "1012")
        ):
            self._clock_set[device.id] = now
            reason = f"clock off by {offset:+.0f} s (bound {self.settings.gateway_clock_bound:.0f} s)"
            self.commander.request(session, device.id, set_time(target, self.next_qn(), datetime.now(UTC)), reason)
        if decoded.data_time is not None and packet.cn in ("2051", "2061"):
            gap = self.gaps.observe(device.id, packet.cn, decoded.data_time)
            if (
                gap is not None
                and not self.commander.outstanding(device.id, packet.cn)
                and now - self._backfilled.get(device.id, -1e18) >= self.settings.gateway_backfill_every
            ):
                self._backfilled[device.id] = now
                first, last = gap
                reason = f"gap in {packet.cn} data from {first.isoformat()} to {last.isoformat()}"
                self.commander.request(
                    session, device.id, history(target, self.next_qn(), packet.cn, first, last), reason
                )

    def next_qn(self) -> str:
        """A request number unique within this gateway: the time, with a counter in the milliseconds."""
        self._qn = (self._qn + 1) % 1000
        return make_qn(datetime.now(UTC))[:14] + f"{self._qn:03d}"

    def authenticated(self, session: DeviceSession) -> None:
        """The session's first accepted packet: it is no longer the first to go at the cap."""
        self._unaccepted.pop(session, None)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        address = writer.get_extra_info("peername")
        ip = address[0] if address else "unknown"
        if (refusal := self.addresses.refusal(ip)) is not None:
            self.metrics.closed.labels("address_backoff").inc()
            log.debug("refusing %s: %s", ip, refusal)
            writer.transport.abort()
            return
        cap = self.settings.gateway_max_connections_per_peer
        if cap is not None and self._per_peer[ip] >= cap:
            self.metrics.closed.labels("per_peer_cap").inc()
            writer.transport.abort()
            return
        if len(self.sessions) >= self.settings.gateway_max_connections:
            if not self._unaccepted:
                self.metrics.closed.labels("connection_cap").inc()
                log.warning("refusing %s: %d connections open, the cap", ip, len(self.sessions))
                writer.transport.abort()
                return
            # the oldest connection that never sent an accepted packet makes room
            oldest = next(iter(self._unaccepted))
            self._unaccepted.pop(oldest)
            self.sessions.discard(oldest)
            oldest.evict(f"{len(self.sessions) + 1} connections open, the cap: making room for {ip}")
        self._per_peer[ip] += 1
        self.metrics.connections.inc()
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        session = DeviceSession(self, reader, writer)
        self.sessions.add(session)
        self._unaccepted[session] = None
        try:
            await session.run()
        finally:
            self.sessions.discard(session)
            self._unaccepted.pop(session, None)
            self._sessions.discard(task)
            self._per_peer[ip] -= 1
            self.metrics.connections.dec()

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        reloaded = loop.time()
        while True:
            await asyncio.sleep(min(10.0, self.settings.gateway_offline_after / 3))
            if not self._checked:
                await self._check_late()
            elif loop.time() - reloaded >= DIRECTORY_RELOAD_EVERY:
                # a device deactivated (or a password changed) in the registry is known within a minute
                reloaded = loop.time()
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self.directory.load)
            self.presence.sweep()
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.presence.flush, self.engine)


def _quietly(future: asyncio.Future[None]) -> None:
    """A registry reload's failure is not news (lookups go on with what is known): take it."""
    if not future.cancelled() and (exc := future.exception()) is not None:
        log.debug("the registry could not be reloaded: %s", exc)


def _version(text: str) -> Version:
    try:
        return Version(text)
    except ValueError:
        return Version.V2017
