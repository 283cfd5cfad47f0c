"""The "three full coverages" (三个全覆盖) of key units, per region: monitoring installed,
networked, and under O&M (operation and maintenance) supervision.

A unit counts as installed when it has an active device, as networked when one of those has a
networking date on or before the day asked about, and as operated when one names its O&M company.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from offsite.registry.models import Device, Outlet, Region, Unit
from offsite.registry.regions import ancestor_code


@dataclass(frozen=True, slots=True)
class Coverage:
    region_code: str
    region_name: str
    level: str
    units: int
    installed: int
    networked: int
    operated: int

    def rate(self, count: int) -> float:
        return count / self.units if self.units else 0.0


def coverage(session: Session, on: date, level: str = "city") -> list[Coverage]:
    """One row per region of ``level`` (province, city or county) that has units, by region code."""
    regions = {r.code: r for r in session.scalars(select(Region))}
    units = dict(session.execute(select(Unit.id, Unit.region_code).where(Unit.status != "closed")).all())
    installed: set[int] = set()
    networked: set[int] = set()
    operated: set[int] = set()
    rows = session.execute(
        select(Outlet.unit_id, Device.networked_on, Device.operator)
        .join(Device, Device.outlet_id == Outlet.id)
        .where(Device.active.is_(True))
    ).all()
    for unit_id, networked_on, operator in rows:
        installed.add(unit_id)
        if networked_on is not None and networked_on <= on:
            networked.add(unit_id)
        if operator:
            operated.add(unit_id)
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for unit_id, region_code in units.items():
        target = ancestor_code(regions, region_code, level)
        if target is None:
            continue
        row = counts[target]
        row[0] += 1
        row[1] += unit_id in installed
        row[2] += unit_id in networked
        row[3] += unit_id in operated
    return [Coverage(code, regions[code].name, level, *counts[code]) for code in sorted(counts)]
