"""The gateway process: the TCP server, its sessions, and the tasks that keep it honest."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter

from prometheus_client import start_http_server
from sqlalchemy import Engine

from offsite.db import make_engine
from offsite.gateway.directory import DeviceDirectory, KnownDevice
from offsite.gateway.ingest import Ingest
from offsite.gateway.metrics import Metrics
from offsite.gateway.presence import Presence
from offsite.gateway.projection import project_pending
from offsite.gateway.session import DeviceSession
from offsite.gateway.spool import Spool
from offsite.hj212.frame import FramingOptions
from offsite.registry.passwords import cipher
from offsite.settings import Settings

log = logging.getLogger(__name__)


class Gateway:
    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine or make_engine(settings.database_url)
        self.framing = FramingOptions(max_length=settings.gateway_max_length)
        self.metrics = Metrics()
        self.directory = DeviceDirectory(self.engine, cipher(settings))
        self.presence = Presence(settings.gateway_offline_after)
        self.spool = Spool(settings.gateway_spool_dir)
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
        )
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        self._per_peer: Counter[str] = Counter()
        self._tasks: list[asyncio.Task[None]] = []
        self._reload_lock = asyncio.Lock()
        self.closing = asyncio.Event()
        """Set on shutdown: sessions stop reading, acknowledge what was committed, and close."""

    async def start(self) -> tuple[str, int]:
        """Load what is known, project what a previous run left, then listen. Returns (host, port)."""
        try:
            await asyncio.to_thread(self.directory.load)
            await asyncio.to_thread(self.presence.load, self.engine)
            done = await asyncio.to_thread(project_pending, self.engine, self.directory, framing=self.framing)
            if done:
                log.info("projected %d packets archived by an earlier run", done)
        except Exception:
            log.exception("database unavailable at start; packets will be spooled until it answers")
        self.ingest.start()
        self._tasks = [
            asyncio.create_task(self._sweep(), name="offsite-presence"),
            asyncio.create_task(self.ingest.retry_spool(self.settings.gateway_spool_retry), name="offsite-spool-retry"),
        ]
        if self.settings.gateway_metrics_port is not None:
            start_http_server(
                self.settings.gateway_metrics_port, addr=self.settings.gateway_host, registry=self.metrics.registry
            )
        self._server = await asyncio.start_server(
            self._accept, self.settings.gateway_host, self.settings.gateway_port, limit=2**20, backlog=4096
        )
        host, port = self._server.sockets[0].getsockname()[:2]
        log.info("gateway listening on %s:%d", host, port)
        return host, port

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
        await self.ingest.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.to_thread(self.presence.flush, self.engine)

    async def lookup(self, mn: str | None) -> KnownDevice | None:
        device = self.directory.get(mn)
        if device is None and mn and self.directory.stale():
            async with self._reload_lock:
                if self.directory.stale():
                    with contextlib.suppress(Exception):
                        await asyncio.to_thread(self.directory.load)
            device = self.directory.get(mn)
        return device

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        address = writer.get_extra_info("peername")
        ip = address[0] if address else "unknown"
        cap = self.settings.gateway_max_connections_per_peer
        if cap is not None and self._per_peer[ip] >= cap:
            self.metrics.closed.labels("per_peer_cap").inc()
            writer.close()
            return
        self._per_peer[ip] += 1
        self.metrics.connections.inc()
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        try:
            await DeviceSession(self, reader, writer).run()
        finally:
            self._sessions.discard(task)
            self._per_peer[ip] -= 1
            self.metrics.connections.dec()

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(min(10.0, self.settings.gateway_offline_after / 3))
            self.presence.sweep()
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.presence.flush, self.engine)
