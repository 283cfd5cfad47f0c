"""Transmission KPIs (传输率, 有效率, 有效传输率, 联网率) per region, unit, device or factor.

Over the hours *expected* of a device: the day's hours (or, for a day not over, the hours already
elapsed), less those a stop mark in effect covers (kinds with ``stop = true`` in
``quality.markkinds``' table: a stopped plant discharges nothing and sends nothing; start-up, fault
or calibration data are still sent) — approved, or also pending with ``mark_takes_effect =
"filed"`` — and all of them while its unit is declared stopped or closed
(``Unit.status``). Hours received outside the expected ones are not counted, so no rate exceeds
100 %.

- transmission rate (传输率): expected hours received (as 2061 hour data, or as minutes the
  platform aggregated) over expected hours;
- valid-data rate (有效率): valid hours over received hours. An hour computed from minutes is
  valid when every factor is (``quality``'s rules); an hour known only from the device's 2061
  data when every flagged factor carries a valid flag (N by default). Per factor: that factor's;
- effective transmission rate (有效传输率): valid hours over expected hours, the figure bureaus
  rank cities by;
- networking rate (联网率): devices that were online at some moment of the day over devices
  expected to send that day. A device that sent data for the day was online, whatever the status
  changes say (a backfilled day has data and no status change); the gateway's status changes are
  passed in by the caller (``online``), since ``gateway`` is a sibling of this package.

A month sums its days: ``devices`` and ``online`` are then device-days (``days`` says how many
days were summed).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, case, select

from offsite.hj212.codes.factors import FACTORS
from offsite.hj212.times import CST
from offsite.quality.markkinds import mark_kinds
from offsite.quality.marks import TAKES_EFFECT, DataMark, states_in_effect
from offsite.registry.models import Device, Outlet, Region, Unit
from offsite.registry.regions import ancestor_code
from offsite.store.models import HOUR, ComputedValue, IntervalValue

VALID_FLAGS = frozenset({"N"})
STOPPED_UNIT = frozenset({"stopped", "closed"})
"""``Unit.status`` values that declare a shut-down: none of the unit's hours are expected."""
LEVELS = ("province", "city", "county", "unit", "device", "factor")

OnlineSource = Callable[[datetime, datetime], Collection[int]]
"""Device ids online at some moment from the first time to the second (the gateway's record)."""


@dataclass(frozen=True, slots=True)
class Rates:
    code: str
    """The region's code, the unit's credit code, the device's MN or the factor's code."""
    name: str
    devices: int
    """Registered devices (with ``days`` > 1: device-days)."""
    expected_devices: int
    """Those with at least one expected hour: the networking rate's denominator."""
    online: int
    hours_expected: int
    hours_received: int
    hours_valid: int
    days: int = 1

    @property
    def networking(self) -> float | None:
        return self.online / self.expected_devices if self.expected_devices else None

    @property
    def transmission(self) -> float | None:
        return self.hours_received / self.hours_expected if self.hours_expected else None

    @property
    def validity(self) -> float | None:
        return self.hours_valid / self.hours_received if self.hours_received else None

    @property
    def effective(self) -> float | None:
        return self.hours_valid / self.hours_expected if self.hours_expected else None

    @property
    def region_code(self) -> str:
        return self.code

    @property
    def region_name(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class _Device:
    region_code: str
    unit_code: str
    unit_name: str
    mn: str
    outlet_id: int
    stopped: bool
    factors: tuple[str, ...]


@dataclass(slots=True)
class _Tally:
    devices: int = 0
    expected_devices: int = 0
    online: int = 0
    expected: int = 0
    received: int = 0
    valid: int = 0

    def add(self, expected: int, received: int, valid: int, online: bool) -> None:
        self.devices += 1
        self.expected_devices += expected > 0
        self.online += expected > 0 and online
        self.expected += expected
        self.received += received
        self.valid += valid


def hours_elapsed(day: date, now: datetime) -> int:
    """Whole hours of the China-time ``day`` over at ``now`` (0–24)."""
    start = datetime.combine(day, time(0), tzinfo=CST)
    return max(0, min(24, int((now - start) / timedelta(hours=1))))


def daily_rates(
    engine: Engine,
    day: date,
    level: str = "city",
    *,
    online: OnlineSource | None = None,
    now: datetime | None = None,
    valid_flags: frozenset[str] = VALID_FLAGS,
    stop_kinds: Collection[str] | None = None,
    takes_effect: str = "approved",
) -> list[Rates]:
    """Rates for one China-time day per region of ``level`` (province, city, county), per unit
    (by credit code), device (by MN) or factor (by code). With ``now`` inside the day, only the
    hours over by then are expected."""
    if level not in LEVELS:
        raise ValueError(f"level {level!r} is not one of {', '.join(LEVELS)}")
    start = datetime.combine(day, time(0), tzinfo=CST).astimezone(UTC)
    hours = 24 if now is None else hours_elapsed(day, now)
    slots = [start + timedelta(hours=h) for h in range(hours)]
    end = start + timedelta(hours=24)
    with engine.connect() as conn:
        regions = {r.code: r for r in conn.execute(select(Region.code, Region.name, Region.level, Region.parent_code))}
        devices = _devices(conn, day)
        stops = _stops(conn, start, end, stop_kinds, takes_effect)
        sent = _sent(conn, start, end, valid_flags)
    by_status = set(online(start, end)) if online is not None else set()
    tallies: dict[str, _Tally] = defaultdict(_Tally)
    names: dict[str, str] = {}
    for device_id, device in devices.items():
        rows = sent.get(device_id, {})
        was_online = device_id in by_status or bool(rows)
        marks = [m for m in stops if m[0] == device.outlet_id and m[1] in (None, device_id)]
        off_all = set(slots) if device.stopped else _covered(slots, (m for m in marks if m[2] is None))
        if level == "factor":
            for factor in device.factors or tuple(sorted({f for f, _ in rows})):
                off = off_all | _covered(slots, (m for m in marks if m[2] == factor))
                expected = [ts for ts in slots if ts not in off]
                got = [rows[(factor, ts)] for ts in expected if (factor, ts) in rows]
                tallies[factor].add(len(expected), len(got), got.count(False), was_online)
                names[factor] = FACTORS[factor].name_zh if factor in FACTORS else factor
            continue
        expected = [ts for ts in slots if ts not in off_all]
        received = valid = 0
        by_hour = _by_hour(rows, marks, slots)
        for ts in expected:
            if ts in by_hour:
                received += 1
                valid += not by_hour[ts]
        target = _target(level, regions, device, names)
        if target is not None:
            tallies[target].add(len(expected), received, valid, was_online)
    return [
        Rates(code, names[code], t.devices, t.expected_devices, t.online, t.expected, t.received, t.valid)
        for code, t in sorted(tallies.items())
    ]


def monthly_rates(
    engine: Engine,
    month: date,
    level: str = "city",
    *,
    online: OnlineSource | None = None,
    now: datetime | None = None,
    valid_flags: frozenset[str] = VALID_FLAGS,
    stop_kinds: Collection[str] | None = None,
    takes_effect: str = "approved",
) -> list[Rates]:
    """The month's days summed (up to ``now``'s hour when the month is not over): ``devices`` and
    ``online`` count device-days, so the networking rate is the mean daily rate."""
    first = month.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    last = following if now is None else min(following, now.astimezone(CST).date() + timedelta(days=1))
    sums: dict[str, list[int]] = {}
    names: dict[str, str] = {}
    day, days = first, 0
    while day < last:
        days += 1
        for rates in daily_rates(
            engine,
            day,
            level,
            online=online,
            now=now,
            valid_flags=valid_flags,
            stop_kinds=stop_kinds,
            takes_effect=takes_effect,
        ):
            names[rates.code] = rates.name
            row = sums.setdefault(rates.code, [0] * 6)
            values = (
                rates.devices,
                rates.expected_devices,
                rates.online,
                rates.hours_expected,
                rates.hours_received,
                rates.hours_valid,
            )
            for i, value in enumerate(values):
                row[i] += value
        day += timedelta(days=1)
    return [Rates(code, names[code], *_six(sums[code]), days=days) for code in sorted(sums)]


def _six(values: list[int]) -> tuple[int, int, int, int, int, int]:
    a, b, c, d, e, f = values
    return a, b, c, d, e, f


def _devices(conn: Connection, day: date) -> dict[int, _Device]:
    rows = conn.execute(
        select(
            Device.id, Unit.region_code, Unit.credit_code, Unit.name, Device.mn, Outlet.id, Unit.status, Device.factors
        )
        .join(Outlet, Outlet.id == Device.outlet_id)
        .join(Unit, Unit.id == Outlet.unit_id)
        .where(Device.active.is_(True), (Device.installed_on.is_(None)) | (Device.installed_on <= day))
    )
    return {
        device_id: _Device(
            region, code, name, mn, outlet, status in STOPPED_UNIT, tuple(f for f in (factors or "").split(",") if f)
        )
        for device_id, region, code, name, mn, outlet, status, factors in rows
    }


_Stop = tuple[int, int | None, str | None, datetime, datetime]


def _stops(
    conn: Connection, start: datetime, end: datetime, kinds: Collection[str] | None, takes_effect: str
) -> list[_Stop]:
    """Stop marks in effect overlapping the day: (outlet, device or none, factor or none, window)."""
    if takes_effect not in TAKES_EFFECT:
        raise ValueError(f"mark_takes_effect {takes_effect!r} is not one of {', '.join(TAKES_EFFECT)}")
    states = states_in_effect(takes_effect)
    stop = sorted(mark_kinds().stop_keys() if kinds is None else kinds)
    return [
        (outlet, device, factor, mark_start, mark_end)
        for outlet, device, factor, mark_start, mark_end in conn.execute(
            select(DataMark.outlet_id, DataMark.device_id, DataMark.factor, DataMark.start_at, DataMark.end_at).where(
                DataMark.state.in_(states),
                DataMark.kind.in_(stop),
                DataMark.start_at < end,
                DataMark.end_at > start,
            )
        )
    ]


def _covered(slots: list[datetime], marks: Iterable[_Stop]) -> set[datetime]:
    """The hours a mark's window touches: an hour partly stopped cannot be expected whole."""
    windows = [(m[3], m[4]) for m in marks]
    return {ts for ts in slots if any(a < ts + timedelta(hours=1) and b > ts for a, b in windows)}


def _by_hour(rows: dict[tuple[str, datetime], bool], marks: list[_Stop], slots: list[datetime]) -> dict[datetime, bool]:
    """Per hour received: whether any factor of it is bad (a factor under its own stop mark aside)."""
    factor_off = {m[2]: _covered(slots, [m]) for m in marks if m[2] is not None}
    hours: dict[datetime, bool] = {}
    for (factor, ts), bad in rows.items():
        considered = bad and ts not in factor_off.get(factor, ())
        hours[ts] = hours.get(ts, False) or considered
    return hours


def _target(level: str, regions: Mapping[str, Any], device: _Device, names: dict[str, str]) -> str | None:
    if level == "unit":
        names[device.unit_code] = device.unit_name
        return device.unit_code
    if level == "device":
        names[device.mn] = f"{device.unit_name} {device.mn}"
        return device.mn
    found = ancestor_code(regions, device.region_code, level)
    if found is not None:
        names[found] = regions[found].name
    return found


def _sent(
    conn: Connection, start: datetime, end: datetime, valid_flags: frozenset[str]
) -> dict[int, dict[tuple[str, datetime], bool]]:
    """Per device, per (factor, hour) received: whether it is bad. An hour the platform computed
    from minutes is judged by its own validity (``quality.rules``); an hour only the device's 2061
    data give, by the flag the device sent; an invalid computed hour gives way to the device's own
    valid one."""
    flagged_bad = case((IntervalValue.flag.is_not(None) & IntervalValue.flag.not_in(sorted(valid_flags)), 1), else_=0)
    found: dict[int, dict[tuple[str, datetime], bool]] = defaultdict(dict)
    for device, factor, ts, bad in conn.execute(
        select(IntervalValue.device_id, IntervalValue.factor, IntervalValue.ts, flagged_bad).where(
            IntervalValue.period == HOUR, IntervalValue.ts >= start, IntervalValue.ts < end
        )
    ):
        found[device][(factor, ts)] = bool(bad)
    for device, factor, ts, bad in conn.execute(
        select(ComputedValue.device_id, ComputedValue.factor, ComputedValue.ts, ComputedValue.valid.is_(False)).where(
            ComputedValue.period == HOUR, ComputedValue.ts >= start, ComputedValue.ts < end
        )
    ):
        # an hour computed from the minutes that reached us is invalid when some were lost on the
        # way; the logger's own valid hourly value, made from all of them, then stands
        found[device][(factor, ts)] = bool(bad) and found[device].get((factor, ts), True)
    return found
