"""What the demo plants, where, and what the platform should make of it.

The first units get one scenario each: four get real exceedance days (enough for blue, yellow,
orange and red alarms), the others one fraud or malfunction case each, planted in three days of
minute data (the day before gives rules their history, the day after lets a window close). The
first of all is the source article's case: a building-materials company in Suzhou whose SO2
neared the limit and then fell sharply while the station-room video was missing. Every other
unit is clean and must stay so.

Signals are scaled so that each limited pollutant runs at about 35 % of its limit (measured),
as a compliant plant does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from offsite.demo.province import VIDEO_PLATFORM, DemoOutlet, DemoUnit
from offsite.hj212.times import CST
from offsite.sim import scenarios as sc
from offsite.sim.signals import GAS, WATER

SO2, O2 = "a21026", "a19001"
NO_CORRECTION = 19.5
"""O2 (%) at and above which no correction applies (HJ 75-2017)."""
DAY = 1440
LOAD = 0.35
"""Share of the limit a compliant plant's pollutants run at."""

Plant = Callable[[sc.Series, DemoUnit, DemoOutlet, int], None]
"""(series, unit, outlet, the planted day's first minute)."""


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    expect: str
    """The rule that should fire (R05 …) or the alarm level that should be raised (blue …)."""
    plant: Plant
    minute_days: bool = True
    """Whether the three days around it go as minute data (fraud cases: screening reads minutes)."""
    host: str | None = None
    """Planted on the unit of that scenario (an alarm unit), on days of its own."""
    span_days: int = 3
    """Minute days sent: three (the day before gives history, the day after closes windows), or
    just the planted day for rules judged within it."""


def _exceedances(days: int) -> Plant:
    def plant(s: sc.Series, _u: DemoUnit, o: DemoOutlet, first: int) -> None:
        start = first // DAY
        sc.exceedance_days(s, SO2, list(range(start, start + days)), o.limits[SO2])

    return plant


def _as_corrected(plant: Plant) -> Plant:
    """Plant in corrected terms, where the limit applies: the series is turned into O2-corrected
    values, the scenario planted against the limit, and the result turned back into what the
    analyser reads. A drop "near the limit" is then near it as the standard judges."""

    def planted(s: sc.Series, u: DemoUnit, o: DemoOutlet, first: int) -> None:
        if o.o2_ref is None:
            plant(s, u, o, first)
            return
        o2 = s.values[O2]
        to_corrected = np.where(o2 < NO_CORRECTION, (21.0 - o.o2_ref) / (21.0 - o2), 1.0)
        s.values[SO2] = s.values[SO2] * to_corrected
        plant(s, u, o, first)
        s.values[SO2] = np.round(s.values[SO2] / to_corrected, 2)

    return planted


def _at(first: int) -> int:
    return first + 600  # 10:00 China time on the planted day


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "article_case",
        "R05",
        _as_corrected(
            lambda s, u, o, f: sc.article_case(
                s, SO2, _at(f) - 300, o.limits[SO2], platform=VIDEO_PLATFORM, channel=o.camera or o.mn
            )
        ),
    ),
    Scenario("exceedance_blue", "blue", _exceedances(2), minute_days=False),
    Scenario("exceedance_yellow", "yellow", _exceedances(4), minute_days=False),
    Scenario("exceedance_orange", "orange", _exceedances(8), minute_days=False),
    Scenario("exceedance_red", "red", _exceedances(11), minute_days=False),
    Scenario("constant", "R01", lambda s, u, o, f: sc.constant(s, SO2, _at(f), 180)),
    Scenario("zero", "R02", lambda s, u, o, f: sc.zero(s, SO2, _at(f), 120)),
    Scenario(
        "drop_after_near_limit",
        "R05",
        _as_corrected(lambda s, u, o, f: sc.drop_after_near_limit(s, SO2, _at(f), 90, o.limits[SO2])),
    ),
    Scenario(
        "gap_after_high",
        "R06",
        _as_corrected(lambda s, u, o, f: sc.gap_after_high(s, SO2, _at(f), 120, o.limits[SO2])),
    ),
    Scenario("maintenance", "R07", lambda s, u, o, f: sc.flagged(s, SO2, _at(f) - 600, 1560, "M")),
    Scenario("manual_set", "R15", lambda s, u, o, f: sc.manual_set(s, SO2, _at(f), 60, round(0.2 * o.limits[SO2], 1))),
    Scenario(
        "limit_hugging",
        "R08",
        _as_corrected(lambda s, u, o, f: sc.limit_hugging(s, SO2, f, DAY, o.limits[SO2], seed=u.index)),
    ),
    Scenario("o2_dilution", "R09", lambda s, u, o, f: sc.o2_dilution(s, SO2, _at(f), 300)),
    Scenario(
        "treatment_power_off",
        "R12",
        lambda s, u, o, f: sc.treatment_power_off(
            s, _at(f), 150, production=u.meters["production"], treatment=u.meters["treatment"]
        ),
    ),
    Scenario("replay", "R14", lambda s, u, o, f: sc.replay(s, SO2, _at(f), 120, _at(f) - DAY)),
    # R18 compares with the device's own recent days: planted on the third day
    Scenario("chemical_suppression", "R18", lambda s, u, o, f: sc.chemical_suppression(s, SO2, _at(f) + DAY, 240)),
)


FALSE_STOP_MARK, COMPARISON = "false_stop_mark", "comparison"
EXTRAS: tuple[Scenario, ...] = (
    Scenario(
        "negative", "R03", lambda s, u, o, f: sc.negative(s, SO2, _at(f), 60), host="exceedance_blue", span_days=1
    ),
    Scenario(
        "over_range",
        "R04",
        lambda s, u, o, f: sc.over_range(s, SO2, _at(f), 4, round(2.5 * o.limits[SO2], 1)),
        host="exceedance_red",
        span_days=1,
    ),
    # the wet scrubber bypassed for two and a half hours: the flue gas leaves hot, SO2 reads normal
    Scenario(
        "scrubber_bypass",
        "R10",
        lambda s, u, o, f: sc.scrubber_bypass(s, _at(f), 150),
        host="exceedance_blue",
        span_days=1,
    ),
    # the data stay normal; the unit files a stop mark over three hours of them, and it is approved
    Scenario(
        FALSE_STOP_MARK, "R16", lambda s, u, o, f: s.label(FALSE_STOP_MARK, "*", _at(f), 180), host="exceedance_orange"
    ),
    # a comparison test (比对监测) whose reference is twice what the analyser read
    Scenario(
        COMPARISON,
        "R17",
        lambda s, u, o, f: s.label(COMPARISON, SO2, _at(f), 60),
        host="exceedance_yellow",
        span_days=1,
    ),
)


@dataclass(frozen=True, slots=True)
class Placement:
    scenario: Scenario
    unit: DemoUnit
    outlet: DemoOutlet
    day: int
    """The planted day's index from the series' first China day (fraud: the middle of three)."""


def place(units: list[DemoUnit], days: int) -> list[Placement]:
    """One scenario per unit, from the first; fraud windows spread over the month, alarm days
    in its second half (all inside the alarm window that ends yesterday)."""
    out = []
    for k, (scenario, unit) in enumerate(zip(SCENARIOS, units, strict=False)):
        outlet = next(o for o in unit.outlets if o.medium == "gas")
        # fraud: the three days end at least three days before today; alarms: the month's second half
        day = 3 + (k * 5) % (days - 7) if scenario.minute_days else days - 14
        out.append(Placement(scenario, unit, outlet, day))
    hosts = {p.scenario.name: p for p in out}
    for k, scenario in enumerate(EXTRAS):
        host = hosts[scenario.host or ""]
        # three minute days of their own, before the alarm days begin
        out.append(Placement(scenario, host.unit, host.outlet, min(5 + 3 * k, days - 17)))
    return out


def stop_marks(placements: list[Placement], start: datetime) -> list[tuple[DemoOutlet, datetime, datetime]]:
    """The false stop marks to file and approve: (outlet, start, end)."""
    out = []
    for p in placements:
        if p.scenario.name == FALSE_STOP_MARK:
            begin = start + timedelta(minutes=_at(first_minute(start, p.day)))
            out.append((p.outlet, begin, begin + timedelta(hours=3)))
    return out


def comparisons(placements: list[Placement], series: list[sc.Series], start: datetime) -> list[dict[str, str]]:
    """Comparison tests (mn, factor, time, reference, online, source) whose reference is twice the
    hour's online mean."""
    by_mn = {s.mn: s for s in series}
    rows = []
    for p in placements:
        if p.scenario.name == COMPARISON:
            at = _at(first_minute(start, p.day))
            online = float(by_mn[p.outlet.mn].values[SO2][at : at + 60].mean())
            rows.append(
                {
                    "mn": p.outlet.mn,
                    "factor": SO2,
                    "time": (start + timedelta(minutes=at)).isoformat(),
                    "reference": f"{2 * online:.1f}",
                    "online": f"{online:.1f}",
                    "source": "演示比对监测报告",
                }
            )
    return rows


def scale(s: sc.Series, outlet: DemoOutlet) -> None:
    """Each limited pollutant at about ``LOAD`` of its limit, keeping its shape and noise."""
    bases = {p.code: p.base for p in (GAS if outlet.medium == "gas" else WATER)}
    for factor, limit in outlet.limits.items():
        if factor in s.values and factor in bases:
            s.values[factor] = (s.values[factor] * (LOAD * limit / bases[factor])).round(2)


def first_minute(start: datetime, day: int) -> int:
    """Minute index of the start of China day ``day`` in a series starting at ``start``."""
    midnight = datetime.combine(start.astimezone(CST).date() + timedelta(days=day), datetime.min.time(), CST)
    return int((midnight - start).total_seconds() // 60)


def minute_span(start: datetime, placement: Placement) -> tuple[int, int]:
    """The China days of minutes around a fraud placement, as (first minute, count)."""
    days = placement.scenario.span_days
    return first_minute(start, placement.day - days // 2), days * DAY


def write_truth(path: Path, placements: list[Placement], series: list[sc.Series], start: datetime) -> int:
    """One JSON line per planted window (fraud) or per alarmed unit: what should be found."""
    by_mn = {s.mn: s for s in series}
    lines = []
    for p in placements:
        base: dict[str, str | int] = {
            "scenario": p.scenario.name,
            "expect": p.scenario.expect,
            "unit": p.unit.credit_code,
            "mn": p.outlet.mn,
        }
        mine = p.scenario.name if p.scenario.minute_days else "exceedance_day"
        labels = (
            [label for label in by_mn[p.outlet.mn].labels if label.scenario == mine] if p.outlet.mn in by_mn else []
        )
        if p.scenario.minute_days:
            for label in labels:
                lines.append(
                    {**base, "factor": label.factor, "start": label.start.isoformat(), "end": label.end.isoformat()}
                )
        elif labels:
            days = sorted(label.start.astimezone(CST).date() for label in labels)
            lines.append({**base, "days": len(days), "first_day": str(days[0]), "last_day": str(days[-1])})
    with open(path, "w", encoding="utf-8") as fh:
        for line in lines:
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")
    return len(lines)
