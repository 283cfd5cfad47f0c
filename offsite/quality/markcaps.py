"""Per-standard caps on marked hours (e.g. GB 18485-2014: a fault ≤ 4 h, start-up, shut-down and
faults ≤ 60 h a year), from a table (packaged TOML, ``data/mark_caps.toml``, or the file
``mark_caps_file`` names). The outlet's standard selects the caps. A mark beyond a cap is still
filed — the bureau decides it — and the finding is said at filing and shown beside the mark; with
``mark_caps_enforced`` (the default) its hours beyond the cap are not exempt: ``exempt_windows``
cuts each mark in effect to the part the caps leave, and judgement takes only that part
(``quality.marks.approved_marks``; the findings shown are ``quality.marks.cap_findings``).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Protocol

from offsite.hj212.times import CST
from offsite.quality.markkinds import MarkKinds, mark_kinds

PERIODS = ("episode", "year")


class MarkCapsError(ValueError):
    """A caps table that cannot be used: names the file, the entry and the field at fault."""


@dataclass(frozen=True, slots=True)
class MarkCap:
    standards: tuple[str, ...]
    kinds: tuple[str, ...]
    """Keys of the kinds table (a term in the file is stored as its key)."""
    per: str
    hours: float
    source: str
    tag: str

    def describe(self) -> str:
        return f"{self.hours:g} h per episode" if self.per == "episode" else f"{self.hours:g} h/yr"


class Window(Protocol):
    """What the caps read of a mark (a stored ``DataMark``)."""

    @property
    def id(self) -> int: ...
    @property
    def outlet_id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def start_at(self) -> datetime: ...
    @property
    def end_at(self) -> datetime: ...


def mark_caps(path: Path | None = None, kinds: MarkKinds | None = None) -> tuple[MarkCap, ...]:
    """The packaged table, or the one at ``path`` (a settings override) instead; a cap's kinds are
    checked against ``kinds`` (the packaged kinds table when none)."""
    table = kinds if kinds is not None else mark_kinds()
    if path is None:
        return _packaged(table)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MarkCapsError(f"{path}: cannot read the mark caps table ({exc})") from exc
    return _parse(text, str(path), table)


@lru_cache(maxsize=4)
def _packaged(kinds: MarkKinds) -> tuple[MarkCap, ...]:
    text = (files("offsite.quality") / "data" / "mark_caps.toml").read_text(encoding="utf-8")
    return _parse(text, "offsite/quality/data/mark_caps.toml", kinds)


def _parse(text: str, where: str, kinds: MarkKinds) -> tuple[MarkCap, ...]:
    try:
        entries = tomllib.loads(text).get("cap", [])
    except tomllib.TOMLDecodeError as exc:
        raise MarkCapsError(f"{where}: not TOML ({exc})") from exc
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise MarkCapsError(f"{where}: 'cap' must be a list of [[cap]] tables, not {type(entries).__name__}")
    return tuple(_cap(entry, f"{where}: cap {n}", kinds) for n, entry in enumerate(entries, start=1))


def _cap(entry: dict[str, Any], at: str, kinds: MarkKinds) -> MarkCap:
    per, hours = entry.get("per"), entry.get("hours")
    if per not in PERIODS:
        raise MarkCapsError(f"{at}: per {per!r} must be one of {', '.join(PERIODS)}")
    if isinstance(hours, bool) or not isinstance(hours, int | float) or not math.isfinite(hours) or hours <= 0:
        raise MarkCapsError(f"{at}: hours {hours!r} must be a finite positive number")
    keys = []
    for text in _texts(entry, "kinds", at):
        kind = kinds.find(text)
        if kind is None:
            raise MarkCapsError(f"{at}: kinds: {text!r} is not a mark kind; accepted: {kinds.accepted()}")
        keys.append(kind.key)
    return MarkCap(
        standards=_texts(entry, "standards", at),
        kinds=tuple(dict.fromkeys(keys)),
        per=per,
        hours=float(hours),
        source=_text(entry, "source", at),
        tag=_text(entry, "tag", at),
    )


def _texts(entry: dict[str, Any], field: str, at: str) -> tuple[str, ...]:
    value = entry.get(field)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise MarkCapsError(f"{at}: {field} {value!r} must be a non-empty list of non-empty texts")
    return tuple(v.strip() for v in value)


def _text(entry: dict[str, Any], field: str, at: str) -> str:
    value = entry.get(field, "")
    if not isinstance(value, str):
        raise MarkCapsError(f"{at}: {field} {value!r} must be a text")
    return value


def hours(mark: Window) -> float:
    return (mark.end_at - mark.start_at).total_seconds() / 3600


def year_bounds(moment: datetime) -> tuple[datetime, datetime]:
    """``moment``'s calendar year, China time (a year cap's budget runs over it)."""
    year = moment.astimezone(CST).year
    return datetime(year, 1, 1, tzinfo=CST), datetime(year + 1, 1, 1, tzinfo=CST)


def capped_kinds(caps: Sequence[MarkCap]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(k for cap in caps for k in cap.kinds))


def exempt_windows(
    marks: Sequence[Window], standards: Mapping[int, str | None], caps: Sequence[MarkCap]
) -> dict[int, tuple[datetime, datetime] | None]:
    """Each mark's exempt part under the caps of its outlet's standard: its window cut short where
    an episode (one fault, continued by marks that begin before it ended) runs past ``hours``, or
    where the year's marks of the cap's kinds, taken in order of start, have used up ``hours``
    (None: nothing left). ``marks`` must hold the outlet's marks in effect from the start of the
    year of the earliest one asked about; marks no cap reaches keep their window."""
    spent: dict[tuple[int, int, int], float] = {}
    episodes: dict[tuple[int, int], tuple[datetime, float]] = {}
    out: dict[int, tuple[datetime, datetime] | None] = {}
    for mark in sorted(marks, key=lambda m: (m.start_at, m.id)):
        applying = [
            (n, cap)
            for n, cap in enumerate(caps)
            if standards.get(mark.outlet_id) in cap.standards and mark.kind in cap.kinds
        ]
        end = mark.end_at
        for n, cap in applying:
            if cap.per != "episode":
                continue
            # a mark that begins before the last one of its episode ended continues that episode,
            # so a long fault cut into 4-hour marks is still one fault
            ends, used = episodes.get((n, mark.outlet_id), (mark.start_at, 0.0))
            if mark.start_at > ends:
                ends, used = mark.start_at, 0.0
            end = min(end, mark.start_at + timedelta(hours=max(cap.hours - used, 0.0)))
            used += max((end - mark.start_at).total_seconds() / 3600, 0.0)
            episodes[(n, mark.outlet_id)] = (max(ends, mark.end_at), used)
        year = mark.start_at.astimezone(CST).year
        for n, cap in applying:
            if cap.per == "year":
                left = cap.hours - spent.get((n, mark.outlet_id, year), 0.0)
                end = min(end, mark.start_at + timedelta(hours=max(left, 0.0)))
        exempt = max((end - mark.start_at).total_seconds() / 3600, 0.0)
        for n, cap in applying:
            if cap.per == "year":
                spent[(n, mark.outlet_id, year)] = spent.get((n, mark.outlet_id, year), 0.0) + exempt
        out[mark.id] = (mark.start_at, end) if end > mark.start_at else None
    return out
