"""What the demo shows: a snapshot of the platform read from the database, drawn as a Rich live
view on a terminal or as plain progress lines otherwise."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from sqlalchemy import Engine, func, select

from offsite.alarms.models import Alarm
from offsite.gateway.models import DeviceStatus
from offsite.hj212.times import CST
from offsite.notify.models import OutboxMessage
from offsite.registry.models import Region, Unit
from offsite.registry.regions import ancestor_code
from offsite.screening.models import Clue

LEVELS = ("red", "orange", "yellow", "blue")
LEVEL_ZH = {"red": "红", "orange": "橙", "yellow": "黄", "blue": "蓝"}
LIVE_STATES = ("open", "acknowledged", "verified")
CLOCK = "北京时间 UTC+8"


def log_time(moment: datetime) -> Text:
    """The live view's log column on China time, labelled: Rich hands over the machine's local
    time, naive, which on a server is usually UTC and said nowhere."""
    return Text(f"[{moment.astimezone(CST):%H:%M:%S} +08:00]")


def console(out: IO[str] | None = None) -> Console:
    """The demo's console: its ``log`` lines stamped by ``log_time``."""
    return Console(file=out, log_time_format=log_time)


class LogFormatter(logging.Formatter):
    """The demo's log file on China time with its offset, whatever the machine's zone."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = datetime.fromtimestamp(record.created, CST)
        return f"{moment:%Y-%m-%d %H:%M:%S}.{moment.microsecond // 1000:03d} +08:00"


@dataclass(slots=True)
class Snapshot:
    phase: str
    devices: int
    online: int = 0
    packets: int = 0
    acked: int = 0
    sent: int = 0
    rate: float = 0.0
    """Packets sent per second since the last snapshot (real-time ones ask for no answer)."""
    levels: dict[str, Counter[str]] = field(default_factory=dict)
    """City name → alarm level → units."""
    clues: list[tuple[float, str, str, str]] = field(default_factory=list)
    """(score, rules, unit name, summary), best first."""
    clue_count: int = 0
    outbox: dict[str, Counter[str]] = field(default_factory=dict)
    """Channel → state → messages."""
    delivered: dict[str, int] = field(default_factory=dict)
    """Channel → messages the local sinks received."""
    regions: dict[str, Any] = field(default_factory=dict)
    """Code → region row, read once: the view redraws every second."""

    def line(self) -> str:
        """One plain progress line."""
        alarms = Counter[str]()
        for per_city in self.levels.values():
            alarms.update(per_city)
        levels = " ".join(f"{level} {alarms[level]}" for level in LEVELS)
        sent = " ".join(f"{channel} {n}" for channel, n in sorted(self.delivered.items()))
        packets = f"{self.acked:,} of about {self.packets:,}" if self.phase == "filling" else f"{self.acked:,}"
        return (
            f"{self.phase}: {self.online}/{self.devices} devices online, {packets} packets acknowledged "
            f"({self.rate:,.0f} sent/s); alarms {levels}; {self.clue_count} clues; delivered {sent}"
        )


def read(engine: Engine, snapshot: Snapshot, *, clues: int = 8) -> Snapshot:
    """Fill ``snapshot`` from the database."""
    with engine.connect() as conn:
        snapshot.online = conn.scalar(select(func.count()).where(DeviceStatus.status == "online")) or 0
        if not snapshot.regions:
            snapshot.regions = {
                row.code: row
                for row in conn.execute(select(Region.code, Region.name, Region.level, Region.parent_code))
            }
        regions = snapshot.regions
        rows = conn.execute(
            select(Unit.region_code, Alarm.level)
            .join(Unit, Unit.id == Alarm.unit_id)
            .where(Alarm.kind == "exceedance", Alarm.state.in_(LIVE_STATES))
        ).all()
        levels: dict[str, Counter[str]] = {}
        for region, level in rows:
            city = ancestor_code(regions, region, "city") or region
            levels.setdefault(regions[city].name if city in regions else city, Counter())[level] += 1
        snapshot.levels = levels
        snapshot.clue_count = conn.scalar(select(func.count()).select_from(Clue)) or 0
        snapshot.clues = [
            (score, rules, name, summary)
            for score, rules, name, summary in conn.execute(
                select(Clue.score, Clue.rules, Unit.name, Clue.summary)
                .join(Unit, Unit.id == Clue.unit_id)
                .where(Clue.state != "dismissed")
                .order_by(Clue.score.desc(), Clue.found_at.desc())
                .limit(clues)
            )
        ]
        outbox: dict[str, Counter[str]] = {}
        for channel, state, n in conn.execute(
            select(OutboxMessage.channel, OutboxMessage.state, func.count()).group_by(
                OutboxMessage.channel, OutboxMessage.state
            )
        ):
            outbox.setdefault(channel, Counter())[state] = n
        snapshot.outbox = outbox
    return snapshot


def render(snapshot: Snapshot) -> Group:
    """The live view: devices and traffic, alarms by city, the best clues, notifications."""
    head = Table.grid(padding=(0, 3))
    head.add_row(
        f"[bold]{snapshot.phase}[/]",
        f"在线 devices online [bold]{snapshot.online}[/]/{snapshot.devices}",
        f"packets acknowledged [bold]{snapshot.acked:,}[/]/{snapshot.packets:,}",
        f"[bold]{snapshot.rate:,.0f}[/] packets sent/s",
    )
    cities = Table(title="超标预警 units by alarm level", expand=True)
    cities.add_column("city 市")
    for level in LEVELS:
        cities.add_column(f"{LEVEL_ZH[level]} {level}", justify="right")
    for city, counts in sorted(snapshot.levels.items()):
        cities.add_row(city, *(str(counts[level] or "") for level in LEVELS))
    clues = Table(title="问题线索 newest clues by score", expand=True)
    clues.add_column("score", justify="right")
    clues.add_column("rules")
    clues.add_column("unit")
    clues.add_column("summary", overflow="fold")
    for score, rules, unit, summary in snapshot.clues:
        clues.add_row(f"{score:.2f}", rules, unit, summary)
    sent = Table(title="notifications 通知", expand=True)
    sent.add_column("channel")
    sent.add_column("sent", justify="right")
    sent.add_column("waiting", justify="right")
    sent.add_column("received by the local sink", justify="right")
    for channel in sorted(set(snapshot.outbox) | set(snapshot.delivered)):
        states = snapshot.outbox.get(channel, Counter())
        waiting = sum(n for state, n in states.items() if state != "sent")
        sent.add_row(channel, str(states["sent"]), str(waiting), str(snapshot.delivered.get(channel, 0)))
    return Group(Panel(head, title=f"offsite demo（{CLOCK}）"), cities, clues, sent)
