"""``offsite demo``: a whole province on one machine.

The gateway runs as its own process (``offsite gateway``); this process runs the simulated
fleet — every device a real TCP client — the local notification sinks, the worker's jobs and
the view. The month is filled through the gateway only: every value points to an archived
packet. Once it is filled, the platform does what its worker would have done over the month
(aggregate, grade, screen, deliver), says ``ready:``, and then runs live.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TextIO

from apscheduler.schedulers.background import BackgroundScheduler
from rich.live import Live
from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session

from offsite.alarms.recompute import recompute
from offsite.db import session_factory
from offsite.db.engine import dialect_of
from offsite.db.schema import upgraded_engine
from offsite.demo import plan, unfinished, view
from offsite.demo.errors import DemoError
from offsite.demo.province import DEMO_MARK, DemoOutlet, DemoUnit, build
from offsite.demo.sinks import Sinks
from offsite.gateway.models import ProjectionMark
from offsite.hj212.times import CST
from offsite.jobs.scheduled import add_jobs, heads_job
from offsite.notify.channels import channels_for
from offsite.notify.outbox import deliver_due
from offsite.quality.incremental import aggregate_pending
from offsite.quality.marks import decide, file_mark
from offsite.registry.models import Device, Unit
from offsite.registry.passwords import cipher
from offsite.registry.standards import reference_o2
from offsite.screening.database import Stored, refresh_profiles, screen_window
from offsite.screening.parameters import load
from offsite.settings import Settings
from offsite.sim.fleet import DeviceSpec, Fleet
from offsite.sim.scenarios import Series, write_power, write_video
from offsite.store.feeds import import_comparisons, import_power, import_video
from offsite.store.models import RawPacket

log = logging.getLogger("offsite.demo")
FOREVER = 10 * 365 * 86400.0
WINDOW = 32
"""History uploads each simulated logger keeps in flight while filling the month."""


@dataclass(frozen=True, slots=True)
class Options:
    units: int = 300
    port: int = 9212
    duration: float | None = None
    """Seconds to stay live after ``ready:``; None runs until Ctrl-C."""
    reset: bool = False
    seed: int = 1
    directory: Path = Path("offsite-demo")
    days: int = 30
    minute_hours: int = 1
    realtime_every: float = 10.0
    fancy: bool = False
    """The Rich live view (a terminal) rather than plain lines."""


def minimum_units() -> int:
    return len(plan.SCENARIOS)


class Demo:
    def __init__(self, settings: Settings, options: Options, out: TextIO) -> None:
        if options.units < minimum_units():
            raise DemoError(
                f"--units {options.units}: the demo needs at least {minimum_units()} units, one per scenario"
            )
        self.settings = settings
        self.options = options
        self.out = out
        self.console = view.console(out)
        self.stop = asyncio.Event()
        self.snapshot = view.Snapshot("starting", devices=0)
        self.started = time.monotonic()
        self._refreshed = self.started
        self.ready = False

    def run(self) -> None:
        o = self.options
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        engine = _prepare(self.settings, o.reset, o.directory, say=self._say)
        o.directory.mkdir(parents=True, exist_ok=True)
        # until `ready:`, the directory says a demo of this database is unfinished (see unfinished.py)
        unfinished.begin(o.directory, shown_url(self.settings.database_url), now)
        _log_to(o.directory / "demo.log")
        start = datetime.combine(now.astimezone(CST).date() - timedelta(days=o.days), datetime.min.time(), CST)
        with session_factory(engine)() as session:
            units = build(session, cipher(self.settings), o.units, seed=o.seed, now=now, kilns=len(plan.SCENARIOS))
            session.commit()
        unfinished.reached(o.directory, "filling")
        placements = plan.place(units, o.days)
        specs = _specs(units, placements, start)
        self.snapshot = view.Snapshot("filling", devices=len(specs), packets=_expected(specs, start, now, o))
        self._say(
            f"province: {len(units)} units, {len(specs)} devices in {len({u.city for u in units})} cities "
            f"({time.monotonic() - self.started:.0f} s)"
        )
        sinks = Sinks(o.directory)
        sinks.start()
        settings = sinks.settings(self.settings)
        gateway, port = _start_gateway(self.settings, o)
        try:
            asyncio.run(
                self._main(
                    engine=engine,
                    settings=settings,
                    sinks=sinks,
                    specs=specs,
                    placements=placements,
                    port=port,
                    start=start,
                    now=now,
                )
            )
        finally:
            _stop_gateway(gateway)
            sinks.stop()
            engine.dispose()

    async def _main(
        self,
        *,
        engine: Engine,
        settings: Settings,
        sinks: Sinks,
        specs: list[DeviceSpec],
        placements: list[plan.Placement],
        port: int,
        start: datetime,
        now: datetime,
    ) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop.set)
        filled = asyncio.Event()
        fleet = Fleet(specs, "127.0.0.1", port, ack_timeout=60.0, live_minutes=True, window=WINDOW)
        running = asyncio.create_task(
            fleet.run(
                history_hours=0,
                minute_hours=self.options.minute_hours,
                live_seconds=FOREVER,
                realtime_every=self.options.realtime_every,
                now=now,
                start=start,
                on_filled=filled.set,
            )
        )
        shown = asyncio.create_task(self._show(engine, fleet, sinks))
        try:
            first = await _first(filled, self.stop, running)
            if first is running:
                raise DemoError(f"the simulated fleet stopped before the month was filled: {running.result()!r}")
            if first is filled:
                self.snapshot.phase = "settling"
                unfinished.reached(self.options.directory, "settling")
                await asyncio.to_thread(
                    partial(
                        self._settle,
                        engine=engine,
                        settings=settings,
                        series=fleet.series,
                        placements=placements,
                        start=start,
                        now=now,
                    )
                )
                self._ready(engine, fleet, sinks)
                await self._live(engine, settings)
        finally:
            running.cancel()
            shown.cancel()
            for task in (running, shown):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._say(self.snapshot.line().replace(self.snapshot.phase, "stopped", 1))
        if not self.ready:
            self._say(
                "stopped before the demo was ready: the database holds part of a province; "
                "the next `offsite demo` here resets it and starts again"
            )
            return
        self._say(
            "the database is kept: try `offsite alarms list`, `offsite clues list`, `offsite stats`, "
            "`offsite devices status` here"
        )

    def _settle(
        self,
        *,
        engine: Engine,
        settings: Settings,
        series: list[Series],
        placements: list[plan.Placement],
        start: datetime,
        now: datetime,
    ) -> None:
        """What the worker would have done over the month: values, grades, clues, messages."""
        _wait_for_projection(engine)
        _import_side_series(engine, series, placements, start, self.options.directory)
        _file_stop_marks(engine, placements, start, now)
        aggregated = aggregate_pending(engine, now=now)
        first, yesterday = start.astimezone(CST).date(), now.astimezone(CST).date() - timedelta(days=1)
        outcome = recompute(
            engine,
            first,
            yesterday,
            settings=settings,
            now=now,
            trigger="manual",
            detail="offsite demo: the month filled",
            aggregated=aggregated,
        )
        log.info("graded: %s", outcome.summary())
        stored = _screen(engine, placements, start, now, self.options.minute_hours, workers=settings.screen_workers)
        log.info("screened: %s clues, %s new", stored.clues, stored.created)
        plan.write_truth(self.options.directory / "scenarios.jsonl", placements, series, start)
        _deliver_all(engine, settings)
        # the evidence: the month's archive chain, its head signed and published as the worker does hourly
        self._say(heads_job(engine, settings) + " (`offsite archive verify --heads FILE --public-key KEY`)")

    def _ready(self, engine: Engine, fleet: Fleet, sinks: Sinks) -> None:
        self._refresh(engine, fleet, sinks)
        self.snapshot.phase = "live"
        self.ready = True
        unfinished.finished(self.options.directory)
        took = time.monotonic() - self.started
        self._say(f"ready: {self.options.days} days filled in {took:.0f} s; " + self.snapshot.line().split(": ", 1)[1])

    async def _live(self, engine: Engine, settings: Settings) -> None:
        scheduler = BackgroundScheduler(timezone=UTC)
        add_jobs(scheduler, engine, settings, deliver_every=10.0, offline_every=60.0, aggregate_every=60.0)
        scheduler.start()
        try:
            duration = self.options.duration
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), duration)
        finally:
            scheduler.shutdown(wait=True)

    async def _show(self, engine: Engine, fleet: Fleet, sinks: Sinks) -> None:
        if self.options.fancy:
            with Live(view.render(self.snapshot), console=self.console, refresh_per_second=2) as live:
                while True:
                    await asyncio.to_thread(self._refresh, engine, fleet, sinks)
                    live.update(view.render(self.snapshot))
                    await asyncio.sleep(1.0)
        every = 5.0
        while True:
            await asyncio.sleep(every)
            await asyncio.to_thread(self._refresh, engine, fleet, sinks)
            self._say(self.snapshot.line())
            every = 30.0 if self.snapshot.phase == "live" else 5.0

    def _refresh(self, engine: Engine, fleet: Fleet, sinks: Sinks) -> None:
        s = self.snapshot
        before, at = s.sent, self._refreshed
        s.acked, s.sent = fleet.stats.acked, fleet.stats.sent
        self._refreshed = time.monotonic()
        s.rate = (s.sent - before) / max(self._refreshed - at, 1e-6)
        s.delivered = sinks.counts()
        view.read(engine, s)

    def _say(self, line: str) -> None:
        if self.options.fancy and self.snapshot.phase in ("filling", "settling", "live"):
            self.console.log(line)
        else:
            print(line, file=self.out, flush=True)


async def _first(*waitables: asyncio.Event | asyncio.Task[object]) -> object:
    """Whichever of the events or tasks comes first."""
    waiting = {(asyncio.ensure_future(w.wait()) if isinstance(w, asyncio.Event) else w): w for w in waitables}
    done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    for future, waitable in waiting.items():
        if future not in done and isinstance(waitable, asyncio.Event):
            future.cancel()
    return waiting[next(iter(done))]


def _prepare(settings: Settings, reset: bool, directory: Path, *, say: Callable[[str], None] = print) -> Engine:
    """The database, empty or holding only an earlier demo (wiped with ``reset``, or when that
    demo was interrupted before it was ready: its note in ``directory`` says so)."""
    engine = upgraded_engine(settings.database_url)
    with Session(engine) as session:
        names = session.scalars(select(Unit.name)).all()
    earlier = unfinished.read(directory)
    interrupted = earlier if earlier is not None and earlier.database == shown_url(settings.database_url) else None
    if not names:
        return engine
    if any(not name.endswith(DEMO_MARK) for name in names):
        raise DemoError(
            f"{shown_url(settings.database_url)} holds a registry that is not a demo ({len(names)} units); "
            "the demo will not touch it: give it another database with --database-url"
        )
    if interrupted is not None:
        say(f"{interrupted.said()}; resetting {shown_url(settings.database_url)} and starting again")
    elif not reset:
        raise DemoError(
            f"{shown_url(settings.database_url)} already holds a demo ({len(names)} units): inspect it with "
            "`offsite alarms list` or `offsite clues list`, or start again with --reset"
        )
    engine = _wipe(engine, settings.database_url)
    shutil.rmtree(directory, ignore_errors=True)
    return upgraded_engine(settings.database_url)


def shown_url(url: str) -> str:
    """The database URL as it may be printed: the password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "the database URL"  # not a URL SQLAlchemy reads: it may hold anything


def _wipe(engine: Engine, url: str) -> Engine:
    engine.dispose()
    if dialect_of(url) == "sqlite":
        path = make_url(url).database
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    return engine


def _log_to(path: Path) -> None:
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(view.LogFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


def _specs(units: list[DemoUnit], placements: list[plan.Placement], start: datetime) -> list[DeviceSpec]:
    planted: dict[str, list[plan.Placement]] = {}
    for p in placements:
        planted.setdefault(p.outlet.mn, []).append(p)
    specs: list[DeviceSpec] = []
    for unit in units:
        for outlet in unit.outlets:
            mine = planted.get(outlet.mn, [])
            specs.append(
                DeviceSpec(
                    outlet.mn,
                    outlet.password,
                    outlet.medium,
                    seed=unit.index * 10 + len(specs) % 10 + 1,
                    plant=_planter(unit, outlet, mine, start),
                    minute_spans=tuple(plan.minute_span(start, p) for p in mine if p.scenario.minute_days),
                    o2_ref=reference_o2(outlet.o2_ref, outlet.standard),
                )
            )
    return specs


def _planter(
    unit: DemoUnit, outlet: DemoOutlet, placements: list[plan.Placement], start: datetime
) -> Callable[[Series], None]:
    def plant(s: Series) -> None:
        plan.scale(s, outlet)
        for p in placements:
            p.scenario.plant(s, unit, outlet, plan.first_minute(start, p.day))

    return plant


def _expected(specs: list[DeviceSpec], start: datetime, now: datetime, o: Options) -> int:
    """Packets the month takes: hours, whole China days and minutes, per device."""
    minutes = int((now - start).total_seconds() // 60)
    per_device = minutes // 60 + minutes // 1440 + o.minute_hours * 60
    return sum(per_device + sum(count for _, count in spec.minute_spans) for spec in specs)


def _start_gateway(settings: Settings, o: Options) -> tuple[subprocess.Popen[str], int]:
    env = {
        **os.environ,
        "OFFSITE_DATABASE_URL": settings.database_url,
        "OFFSITE_DATA_DIR": str(settings.data_dir),
        "OFFSITE_LOG_FORMAT": "text",
    }
    stderr = open(o.directory / "gateway.log", "a", encoding="utf-8")  # noqa: SIM115 (the child keeps it)
    process = subprocess.Popen(
        [sys.executable, "-m", "offsite", "gateway", "--host", "127.0.0.1", "--port", str(o.port)],
        stdout=subprocess.PIPE,
        stderr=stderr,
        env=env,
        text=True,
    )
    stderr.close()
    assert process.stdout is not None
    found = None
    for line in process.stdout:  # the gateway names its data directory, spool and key first
        found = re.search(r"listening on [^:]+:(\d+)", line)
        if found:
            break
    if not found:
        process.wait(timeout=10)
        raise DemoError(
            f"the gateway did not start on port {o.port} (exit {process.returncode}); "
            f"see {o.directory / 'gateway.log'} — is the port taken? choose another with --port"
        )
    return process, int(found.group(1))


def _stop_gateway(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_projection(engine: Engine, *, timeout: float = 300.0) -> None:
    """Until every archived packet is projected into values (the gateway does it after the ack)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with engine.connect() as conn:
            chains = dict(
                conn.execute(select(RawPacket.writer, func.max(RawPacket.seq)).group_by(RawPacket.writer)).all()
            )
            marks = dict(conn.execute(select(ProjectionMark.writer, ProjectionMark.seq)).all())
        if all(marks.get(writer, 0) >= last for writer, last in chains.items()):
            return
        time.sleep(0.5)
    raise DemoError(f"the gateway had not projected every packet after {timeout:.0f} s; see its log")


def _import_side_series(
    engine: Engine, series: list[Series], placements: list[plan.Placement], start: datetime, directory: Path
) -> None:
    """Power meters, camera outages and comparison tests come from their own systems, as files."""
    power, video, tests = directory / "power.csv", directory / "video.csv", directory / "comparisons.csv"
    write_power(series, power)
    write_video(series, video)
    rows = plan.comparisons(placements, series, start)
    with open(tests, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["mn", "factor", "time", "reference", "online", "source"])
        writer.writeheader()
        writer.writerows(rows)
    with engine.begin() as conn:
        for action, path in ((import_power, power), (import_video, video), (import_comparisons, tests)):
            report = action(conn, path)
            if not report.ok:
                raise DemoError(f"{path}: {report.errors[:3]}")


def _file_stop_marks(engine: Engine, placements: list[plan.Placement], start: datetime, now: datetime) -> None:
    """The stop marks the units file, approved by their county bureau (one of them false: R16)."""
    with session_factory(engine)() as session:
        outlets = dict(session.execute(select(Device.mn, Device.outlet_id)).all())
        for outlet, begin, end in plan.stop_marks(placements, start):
            mark = file_mark(
                session,
                outlet_id=outlets[outlet.mn],
                kind="stopped",
                start=begin,
                end=end,
                reason="设备检修停产",
                by="企业",
                now=begin,
                late_after=86400.0,
            )
            decide(session, mark.id, approve=True, by="区县生态环境分局", comment="同意", now=begin)
        session.commit()


def _screen(
    engine: Engine,
    placements: list[plan.Placement],
    start: datetime,
    now: datetime,
    minute_hours: int,
    *,
    workers: int | None,
) -> Stored:
    """Screen where minutes were sent: the planted windows, and every device's last hours, with
    peers profiled over those last hours first (the worker does so daily over 30 days)."""
    catalogue = load()
    with engine.connect() as conn:
        ids = dict(conn.execute(select(Device.mn, Device.id)).all())
    window = now - timedelta(hours=minute_hours)
    refresh_profiles(engine, window, now, catalogue=catalogue, now=now, workers=workers)
    done = Stored()
    for p in placements:
        if p.scenario.minute_days:
            first, count = plan.minute_span(start, p)
            begin = start + timedelta(minutes=first)
            stored, _ = screen_window(
                engine,
                begin,
                begin + timedelta(minutes=count),
                catalogue=catalogue,
                now=now,
                device_ids=[ids[p.outlet.mn]],
            )
            done += stored
    stored, _ = screen_window(engine, window, now, catalogue=catalogue, now=now, workers=workers)
    return done + stored


def _deliver_all(engine: Engine, settings: Settings, *, passes: int = 10) -> None:
    channels = channels_for(settings)
    for _ in range(passes):
        report = deliver_due(session_factory(engine), channels, settings, datetime.now(UTC))
        log.info("outbox: sent %s, retrying %s, failed %s", report.sent, report.retried, report.failed)
        if not report.sent:
            return
