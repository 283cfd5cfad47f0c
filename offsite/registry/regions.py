"""Regions (province → city → county) with GB/T 2260 codes; Anhui ships with the package."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from offsite.registry.errors import ImportReport, RowError
from offsite.registry.models import REGION_LEVELS, Region

ANHUI = "34"


def packaged_regions(province: str = ANHUI) -> str:
    """The CSV text of a province shipped with the package."""
    return (files("offsite.registry") / "data" / f"regions_{province}.csv").read_text(encoding="utf-8")


def load_regions(session: Session, source: str | Path, *, name: str = "regions") -> ImportReport:
    """Load ``code,name,level,parent_code`` rows; all or nothing, existing rows updated in place."""
    text = source.read_text(encoding="utf-8-sig") if isinstance(source, Path) else source
    rows = list(csv.DictReader(io.StringIO(text)))
    report = ImportReport(name)
    known = {r.code: r for r in session.scalars(select(Region))}
    incoming: dict[str, dict[str, str]] = {}
    for number, row in enumerate(rows, start=2):
        code = (row.get("code") or "").strip()
        level = (row.get("level") or "").strip()
        parent = (row.get("parent_code") or "").strip() or None
        if len(code) != 6 or not code.isdigit():
            report.errors.append(RowError(number, "code", f"{code!r} is not a 6-digit GB/T 2260 code"))
            continue
        if level not in REGION_LEVELS:
            report.errors.append(RowError(number, "level", f"{level!r} is not one of {', '.join(REGION_LEVELS)}"))
            continue
        if not (row.get("name") or "").strip():
            report.errors.append(RowError(number, "name", "is empty"))
            continue
        if code in incoming:
            report.errors.append(RowError(number, "code", f"{code} appears twice"))
            continue
        if (level == "province") != (parent is None):
            report.errors.append(RowError(number, "parent_code", "a province has no parent; every other level has one"))
            continue
        incoming[code] = {"name": row["name"].strip(), "level": level, "parent_code": parent or "", "row": str(number)}
    for row in incoming.values():
        parent = row["parent_code"] or None
        if parent is not None and parent not in incoming and parent not in known:
            report.errors.append(RowError(int(row["row"]), "parent_code", f"{parent} is not a known region"))
    if report.errors:
        report.errors.sort(key=lambda e: e.row)
        return report
    for code, row in incoming.items():
        existing = known.get(code)
        values = (row["name"], row["level"], row["parent_code"] or None)
        if existing is None:
            session.add(Region(code=code, name=values[0], level=values[1], parent_code=values[2]))
            report.created += 1
        elif (existing.name, existing.level, existing.parent_code) != values:
            existing.name, existing.level, existing.parent_code = values
            report.updated += 1
        else:
            report.unchanged += 1
    session.flush()
    return report


def load_anhui(session: Session) -> ImportReport:
    return load_regions(session, packaged_regions(ANHUI), name="regions_34.csv")


def city_of(session: Session, code: str) -> Region | None:
    """The city a county (or the city itself) belongs to."""
    region = session.get(Region, code)
    while region is not None and region.level == "county":
        region = session.get(Region, region.parent_code) if region.parent_code else None
    return region if region is not None and region.level == "city" else None


class RegionLike(Protocol):
    code: str
    level: str
    parent_code: str | None


def ancestor_code(regions: Mapping[str, RegionLike], code: str, level: str) -> str | None:
    """The code of the region of ``level`` that contains ``code`` (itself if it is of that level)."""
    region = regions.get(code)
    while region is not None and region.level != level:
        region = regions.get(region.parent_code) if region.parent_code else None
    return region.code if region is not None else None
