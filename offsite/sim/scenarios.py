"""Scenario injection: known faults and frauds planted in a device's series, each with its label.

A scenario changes a device's per-minute values, flags or gaps over a window and says exactly
where it is (``Label``), so that alarms and screening can be checked against the truth. Power
and video series go out as files in the store's import format (``offsite import power|video``).

Windows are minute indexes into the device's series (0 = the series' first minute).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np


@dataclass(frozen=True, slots=True)
class Label:
    scenario: str
    mn: str
    factor: str
    start: datetime
    end: datetime
    """Exclusive."""
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "scenario": self.scenario,
            "mn": self.mn,
            "factor": self.factor,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "detail": self.detail,
        }


@dataclass(slots=True)
class Series:
    """One device's planted-in data: values, flags and missing minutes, plus side series."""

    mn: str
    start: datetime
    values: dict[str, np.ndarray]
    flags: dict[str, np.ndarray] = field(default_factory=dict)
    missing: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    power: list[tuple[str, datetime, float]] = field(default_factory=list)
    """(meter code, time, kW) rows for ``offsite import power``."""
    video: list[tuple[str, str, datetime, datetime]] = field(default_factory=list)
    """(platform, channel, start, end) rows for ``offsite import video``."""
    labels: list[Label] = field(default_factory=list)

    def __post_init__(self) -> None:
        minutes = len(next(iter(self.values.values())))
        for code in self.values:
            self.flags.setdefault(code, np.full(minutes, "N", dtype="<U1"))
        if len(self.missing) != minutes:
            self.missing = np.zeros(minutes, dtype=bool)

    def at(self, index: int) -> datetime:
        return self.start + timedelta(minutes=index)

    def label(self, scenario: str, factor: str, first: int, count: int, detail: str = "") -> None:
        self.labels.append(Label(scenario, self.mn, factor, self.at(first), self.at(first + count), detail))


Injector = Callable[..., None]


def constant(s: Series, factor: str, first: int, count: int) -> None:
    """The reading freezes at its last value (a stuck analyser or a replayed value)."""
    s.values[factor][first : first + count] = s.values[factor][first]
    s.label("constant", factor, first, count, f"frozen at {s.values[factor][first]}")


def zero(s: Series, factor: str, first: int, count: int) -> None:
    s.values[factor][first : first + count] = 0.0
    s.label("zero", factor, first, count)


def drop_after_near_limit(s: Series, factor: str, first: int, count: int, limit: float) -> None:
    """Readings climb to just under the limit, then fall sharply while nothing else changes."""
    rise = max(count // 3, 1)
    s.values[factor][first : first + rise] = np.linspace(0.8 * limit, 0.97 * limit, rise)
    s.values[factor][first + rise : first + count] = 0.15 * limit
    s.label(
        "drop_after_near_limit", factor, first + rise, count - rise, f"from {0.97 * limit:.1f} to {0.15 * limit:.1f}"
    )


def negative(s: Series, factor: str, first: int, count: int) -> None:
    """Readings below zero: a drifting zero point, or an offset typed in to pull the mean down."""
    s.values[factor][first : first + count] = -np.abs(np.round(s.values[factor][first : first + count] * 0.05, 2)) - 1.0
    s.label("negative", factor, first, count)


def over_range(s: Series, factor: str, first: int, episodes: int, reading: float, *, every: int = 90) -> None:
    """Short spells of over-range (T) readings through a day: a range set below what the stack emits."""
    for k in range(episodes):
        at = first + k * every
        s.values[factor][at : at + 5] = reading
        s.flags[factor][at : at + 5] = "T"
    s.label("over_range", factor, first, (episodes - 1) * every + 5, f"{episodes} × 5 min T at {reading}")


def gap(s: Series, first: int, count: int) -> None:
    """The device sends nothing."""
    s.missing[first : first + count] = True
    s.label("gap", "*", first, count)


def gap_after_high(s: Series, factor: str, first: int, count: int, limit: float) -> None:
    """A high reading, then silence: the data that would show the exceedance never arrive."""
    s.values[factor][first] = 1.3 * limit
    s.missing[first + 1 : first + count] = True
    s.label("gap_after_high", factor, first + 1, count - 1, f"after {1.3 * limit:.1f}")


def flagged(s: Series, factor: str, first: int, count: int, flag: str = "M") -> None:
    """Long maintenance (M) or calibration (C) flags: invalid data that hide the period."""
    s.flags[factor][first : first + count] = flag
    s.label("maintenance" if flag == "M" else "calibration", factor, first, count, f"flag {flag}")


def replay(s: Series, factor: str, first: int, count: int, source: int) -> None:
    """Readings copied from an earlier window of the same device (a replayed hour or day)."""
    s.values[factor][first : first + count] = s.values[factor][source : source + count]
    s.label("replay", factor, first, count, f"copied from minute {source}")


def manual_set(s: Series, factor: str, first: int, count: int, value: float) -> None:
    """Values typed in by hand (flag S)."""
    s.values[factor][first : first + count] = value
    s.flags[factor][first : first + count] = "S"
    s.label("manual_set", factor, first, count, f"set to {value}")


def limit_hugging(s: Series, factor: str, first: int, count: int, limit: float, *, seed: int = 0) -> None:
    """Readings pinned just under the limit (a controller tuned to the limit, or edited data)."""
    rng = np.random.default_rng(seed)
    s.values[factor][first : first + count] = np.round(limit * rng.uniform(0.93, 0.99, count), 2)
    s.label("limit_hugging", factor, first, count, f"93–99 % of {limit}")


def o2_dilution(s: Series, factor: str, first: int, count: int, o2: str = "a19001") -> None:
    """Air let into the flue: O2 up, concentration down in proportion (the corrected value stays)."""
    before = s.values[o2][first : first + count].copy()
    after = np.clip(before + 6.0, 0.0, 20.0)
    s.values[o2][first : first + count] = np.round(after, 1)
    s.values[factor][first : first + count] = np.round(
        s.values[factor][first : first + count] * (21.0 - after) / (21.0 - before), 2
    )
    s.label("o2_dilution", factor, first, count, "O2 +6 points")


def exceedance_days(s: Series, factor: str, days: list[int], limit: float) -> None:
    """Real exceedances: the whole China-time day runs at 1.3 × the limit (daily mean above it)."""
    for day in days:
        first = day * 1440
        s.values[factor][first : first + 1440] = round(1.3 * limit, 2)
        s.label("exceedance_day", factor, first, 1440, f"daily mean {1.3 * limit:.1f} over {limit}")


def treatment_power_off(s: Series, first: int, count: int, *, production: str, treatment: str, every: int = 15) -> None:
    """The treatment facility's meter shows it off while production runs."""
    for index in range(0, len(s.missing), every):
        off = first <= index < first + count
        s.power.append((production, s.at(index), 820.0))
        s.power.append((treatment, s.at(index), 3.0 if off else 260.0))
    s.label("treatment_power_off", "power:treatment", first, count)


def video_offline(s: Series, first: int, count: int, *, platform: str, channel: str) -> None:
    s.video.append((platform, channel, s.at(first), s.at(first + count)))
    s.label("video_offline", "video", first, count)


def article_case(
    s: Series, factor: str, first: int, limit: float, *, platform: str, channel: str, drops: int = 3
) -> None:
    """The source article's case: SO2 near or over the limit, then repeated sudden drops to low
    values (alkali in the condenser) while flow, O2 and NOx stay normal, video missing each time."""
    for k in range(drops):
        start = first + k * 180
        # each climb a little different, as real ones are
        s.values[factor][start : start + 60] = np.round(limit * np.linspace(0.92 + 0.01 * k, 1.05, 60), 2)
        s.values[factor][start + 60 : start + 75] = np.round(0.12 * limit, 2)
        s.video.append((platform, channel, s.at(start + 60), s.at(start + 75)))
        s.label("article_case", factor, start + 60, 15, f"near {limit} then {0.12 * limit:.1f}, video missing")


def fabricated(s: Series, factor: str, first: int, count: int) -> None:
    """Values made up rather than measured: plausible levels, typed to the nearest half unit."""
    s.values[factor][first : first + count] = np.round(s.values[factor][first : first + count] * 2) / 2
    s.label("fabricated", factor, first, count, "rounded to 0.5")


def chemical_suppression(s: Series, factor: str, first: int, count: int) -> None:
    """Alkali in the condenser: SO2 read at a fifth of itself, recovering in steps once the
    condenser is drained, while NOx, O2 and flow carry on."""
    s.values[factor][first : first + count] = np.round(s.values[factor][first : first + count] * 0.2, 2)
    for step, share in enumerate((0.4, 0.6, 0.8)):
        at = first + count + step * 20
        s.values[factor][at : at + 20] = np.round(s.values[factor][at : at + 20] * share, 2)
    s.label("chemical_suppression", factor, first, count, "SO2 × 0.2, then back in steps")


def under_reporting(s: Series, factor: str, first: int, count: int, *, share: float = 0.3) -> None:
    """A concentration reported at a fraction of itself while flow, O2 and load carry on (a
    diluted sample line, an edited series): nothing but the process says it is wrong."""
    s.values[factor][first : first + count] = np.round(s.values[factor][first : first + count] * share, 2)
    s.label("under_reporting", factor, first, count, f"× {share}")


def scrubber_bypass(s: Series, first: int, count: int, *, temperature: str = "a01012", raw: float = 125.0) -> None:
    """The wet scrubber bypassed: the flue gas leaves at raw-gas temperature instead of saturated
    at 50–60 ℃, while the SO2 reading is kept looking normal."""
    s.values[temperature][first : first + count] = np.round(raw + s.values[temperature][first : first + count] - 55, 1)
    s.label("scrubber_bypass", "a21026", first, count, f"flue temperature about {raw} ℃")


def write_power(series: list[Series], path: Path) -> int:
    rows = [row for s in series for row in s.power]
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["meter", "time", "kw"])
        for meter, at, kw in rows:
            writer.writerow([meter, at.isoformat(), kw])
    return len(rows)


def write_video(series: list[Series], path: Path) -> int:
    rows = [row for s in series for row in s.video]
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["platform", "channel_id", "start", "end"])
        for platform, channel, start, end in rows:
            writer.writerow([platform, channel, start.isoformat(), end.isoformat()])
    return len(rows)


def write_labels(series: list[Series], path: Path) -> int:
    labels = [label for s in series for label in s.labels]
    with open(path, "w", encoding="utf-8") as fh:
        for label in labels:
            fh.write(json.dumps(label.as_dict(), ensure_ascii=False) + "\n")
    return len(labels)
