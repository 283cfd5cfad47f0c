"""Per-standard caps on marked hours (e.g. GB 18485-2014: a fault ≤ 4 h, start-up, shut-down and
faults ≤ 60 h a year), from a table (packaged TOML, ``data/mark_caps.toml``, or the file
``mark_caps_file`` names). The outlet's standard selects the caps. A mark beyond a cap is still
filed — the bureau decides it — but the finding is said at filing and shown beside the mark.

Findings are computed from the marks themselves, so they never go stale: a year's total counts the
outlet's marks of the cap's kinds (pending or approved, never rejected) filed up to and including
the mark, starting in the same calendar year, China time.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from offsite.hj212.times import CST
from offsite.quality.marks import DataMark
from offsite.registry.models import Outlet

PERIODS = ("episode", "year")


class MarkCapsError(ValueError):
    """A caps table that cannot be used: names the file and the entry at fault."""


@dataclass(frozen=True, slots=True)
class MarkCap:
    standards: tuple[str, ...]
    kinds: tuple[str, ...]
    per: str
    hours: float
    source: str
    tag: str

    def describe(self) -> str:
        return f"{self.hours:g} h per episode" if self.per == "episode" else f"{self.hours:g} h/yr"


def mark_caps(path: Path | None = None) -> tuple[MarkCap, ...]:
    """The packaged table, or the one at ``path`` (a settings override) instead."""
    if path is None:
        return _packaged()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MarkCapsError(f"{path}: cannot read the mark caps table ({exc})") from exc
    return _parse(text, str(path))


@lru_cache(maxsize=1)
def _packaged() -> tuple[MarkCap, ...]:
    return _parse((files("offsite.quality") / "data" / "mark_caps.toml").read_text(encoding="utf-8"), "mark_caps.toml")


def _parse(text: str, where: str) -> tuple[MarkCap, ...]:
    try:
        entries = tomllib.loads(text).get("cap", [])
    except tomllib.TOMLDecodeError as exc:
        raise MarkCapsError(f"{where}: not TOML ({exc})") from exc
    caps = []
    for n, entry in enumerate(entries, start=1):
        per, hours = entry.get("per"), entry.get("hours")
        if per not in PERIODS:
            raise MarkCapsError(f"{where}: cap {n}: per {per!r} is not one of {', '.join(PERIODS)}")
        if not isinstance(hours, int | float) or hours <= 0:
            raise MarkCapsError(f"{where}: cap {n}: hours {hours!r} is not a positive number")
        caps.append(
            MarkCap(
                standards=tuple(entry.get("standards", ())),
                kinds=tuple(entry.get("kinds", ())),
                per=per,
                hours=float(hours),
                source=str(entry.get("source", "")),
                tag=str(entry.get("tag", "")),
            )
        )
    return tuple(caps)


def _hours(mark: DataMark) -> float:
    return (mark.end_at - mark.start_at).total_seconds() / 3600


def _year_bounds(moment: datetime) -> tuple[datetime, datetime]:
    year = moment.astimezone(CST).year
    return datetime(year, 1, 1, tzinfo=CST), datetime(year + 1, 1, 1, tzinfo=CST)


def cap_findings(session: Session, marks: Sequence[DataMark], caps: Sequence[MarkCap]) -> dict[int, str]:
    """For each mark beyond a cap of its outlet's standard, what it exceeds:
    ``exceeds 4 h per episode: 6 h``, ``exceeds 60 h/yr: 72 h`` (several joined by ``; ``)."""
    outlets = {m.outlet_id for m in marks}
    standards = dict(session.execute(select(Outlet.id, Outlet.standard).where(Outlet.id.in_(outlets))).all())
    found: dict[int, str] = {}
    for mark in marks:
        if mark.state == "rejected":
            continue
        texts = []
        for cap in caps:
            if standards.get(mark.outlet_id) not in cap.standards or mark.kind not in cap.kinds:
                continue
            used = _hours(mark) if cap.per == "episode" else _year_total(session, mark, cap)
            if used > cap.hours + 1e-9:
                texts.append(f"exceeds {cap.describe()}: {used:g} h")
        if texts:
            found[mark.id] = "; ".join(texts)
    return found


def _year_total(session: Session, mark: DataMark, cap: MarkCap) -> float:
    begins, ends = _year_bounds(mark.start_at)
    peers = session.scalars(
        select(DataMark).where(
            DataMark.outlet_id == mark.outlet_id,
            DataMark.kind.in_(cap.kinds),
            DataMark.state != "rejected",
            DataMark.start_at >= begins,
            DataMark.start_at < ends,
            DataMark.id <= mark.id,
        )
    )
    return round(sum(_hours(m) for m in peers), 2)
