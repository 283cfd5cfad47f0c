"""Networking and transmission rates per region, from what the gateway records.

- networking rate (联网率) of a day: registered devices that were online at some moment of the
  day (per ``device_status_change``) over registered devices;
- transmission rate (传输率) of a day: hours received (as 2061 hour data, or as minutes the
  platform aggregated) over hours expected (24 per device);
- valid-data rate (有效率): valid hours over received hours. An hour computed from minutes is
  valid when every factor is (``quality``'s rules); an hour known only from the device's 2061 data
  when every flagged factor carries a valid flag (N by default);
- effective transmission rate (有效传输率): their product, valid hours over expected hours, the
  figure bureaus rank cities by.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Connection, Engine, case, func, select

from offsite.gateway.models import DeviceStatusChange
from offsite.hj212.times import CST
from offsite.registry.models import Device, Outlet, Region, Unit
from offsite.registry.regions import ancestor_code
from offsite.store.models import HOUR, ComputedValue, IntervalValue

VALID_FLAGS = frozenset({"N"})


@dataclass(frozen=True, slots=True)
class Rates:
    region_code: str
    """The region's code, or the unit's credit code, or the device's MN."""
    region_name: str
    devices: int
    online: int
    hours_received: int
    hours_valid: int = 0

    @property
    def networking(self) -> float:
        return self.online / self.devices if self.devices else 0.0

    @property
    def transmission(self) -> float:
        return self.hours_received / (self.devices * 24) if self.devices else 0.0

    @property
    def validity(self) -> float:
        return self.hours_valid / self.hours_received if self.hours_received else 0.0

    @property
    def effective(self) -> float:
        return self.transmission * self.validity


def daily_rates(
    engine: Engine, day: date, level: str = "city", valid_flags: frozenset[str] = VALID_FLAGS
) -> list[Rates]:
    """Rates for one China-time day per region of ``level`` (province, city, county), or per unit
    (``unit``: by credit code) or device (``device``: by MN), wherever devices are registered."""
    start = datetime.combine(day, time(0), tzinfo=CST).astimezone(UTC)
    end = start + timedelta(days=1)
    with engine.connect() as conn:
        regions = {r.code: r for r in conn.execute(select(Region.code, Region.name, Region.level, Region.parent_code))}
        devices = {
            device_id: (region_code, unit_code, unit_name, mn)
            for device_id, region_code, unit_code, unit_name, mn in conn.execute(
                select(Device.id, Unit.region_code, Unit.credit_code, Unit.name, Device.mn)
                .join(Outlet, Outlet.id == Device.outlet_id)
                .join(Unit, Unit.id == Outlet.unit_id)
                .where(Device.active.is_(True), (Device.installed_on.is_(None)) | (Device.installed_on <= day))
            )
        }
        last_before = (
            select(DeviceStatusChange.device_id, func.max(DeviceStatusChange.at).label("at"))
            .where(DeviceStatusChange.at < start)
            .group_by(DeviceStatusChange.device_id)
            .subquery()
        )
        online_at_start = set(
            conn.execute(
                select(DeviceStatusChange.device_id)
                .join(
                    last_before,
                    (DeviceStatusChange.device_id == last_before.c.device_id)
                    & (DeviceStatusChange.at == last_before.c.at),
                )
                .where(DeviceStatusChange.status == "online")
            ).scalars()
        )
        came_online = set(
            conn.execute(
                select(DeviceStatusChange.device_id).where(
                    DeviceStatusChange.at >= start, DeviceStatusChange.at < end, DeviceStatusChange.status == "online"
                )
            ).scalars()
        )
        hours = _hours(conn, start, end, valid_flags)
    online = online_at_start | came_online
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    names: dict[str, str] = {}
    for device_id, (region_code, unit_code, unit_name, mn) in devices.items():
        if level == "unit":
            target, names[unit_code] = unit_code, unit_name
        elif level == "device":
            target, names[mn] = mn, f"{unit_name} {mn}"
        else:
            found = ancestor_code(regions, region_code, level)
            if found is None:
                continue
            target, names[found] = found, regions[found].name
        row = totals[target]
        row[0] += 1
        row[1] += device_id in online
        received, valid = hours.get(device_id, (0, 0))
        row[2] += min(received, 24)
        row[3] += min(valid, 24)
    return [Rates(code, names[code], *totals[code]) for code in sorted(totals)]


def _hours(conn: Connection, start: datetime, end: datetime, valid_flags: frozenset[str]) -> dict[int, tuple[int, int]]:
    """Per device: hours received and hours valid. An hour the platform computed from minutes is
    judged by its own validity (every factor valid: 45 valid minutes, ``quality.rules``); an hour
    only the device's 2061 data give is judged by the flags the device sent."""
    flagged_bad = case((IntervalValue.flag.is_not(None) & IntervalValue.flag.not_in(sorted(valid_flags)), 1), else_=0)
    sent = conn.execute(
        select(IntervalValue.device_id, IntervalValue.ts, func.max(flagged_bad))
        .where(IntervalValue.period == HOUR, IntervalValue.ts >= start, IntervalValue.ts < end)
        .group_by(IntervalValue.device_id, IntervalValue.ts)
    )
    bad = {(device, ts): bool(flag) for device, ts, flag in sent}
    computed = conn.execute(
        select(ComputedValue.device_id, ComputedValue.ts, func.max(case((ComputedValue.valid.is_(False), 1), else_=0)))
        .where(ComputedValue.period == HOUR, ComputedValue.ts >= start, ComputedValue.ts < end)
        .group_by(ComputedValue.device_id, ComputedValue.ts)
    )
    bad.update({(device, ts): bool(flag) for device, ts, flag in computed})
    counts: dict[int, tuple[int, int]] = {}
    for (device, _), is_bad in bad.items():
        received, valid = counts.get(device, (0, 0))
        counts[device] = (received + 1, valid + (not is_bad))
    return counts


def monthly_rates(engine: Engine, month: date, level: str = "city") -> list[Rates]:
    """The month's days summed: ``devices`` and ``online`` count device-days, so the networking
    rate is the mean daily rate, and the transmission rates are hours over the month's hours."""
    first = month.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    names: dict[str, str] = {}
    day = first
    while day < following:
        for rates in daily_rates(engine, day, level):
            names[rates.region_code] = rates.region_name
            row = sums[rates.region_code]
            for i, value in enumerate((rates.devices, rates.online, rates.hours_received, rates.hours_valid)):
                row[i] += value
        day += timedelta(days=1)
    return [Rates(code, names[code], *sums[code]) for code in sorted(sums)]
