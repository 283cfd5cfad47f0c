"""Exporting the registry: an .xlsx workbook (one worksheet per sheet) or one CSV per sheet.

Exports use the templates' headers and Chinese labels, so an export is also a filled-in template
that re-imports as a no-op. Access passwords are never exported; an empty password cell on
import keeps the current one.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from offsite.registry.models import Camera, Contact, Device, Limit, Outlet, PermitCap, PowerMeter, Unit
from offsite.registry.sheets import SHEETS, Column, Sheet


def rows_of(session: Session, sheet: Sheet) -> Iterator[dict[str, Any]]:
    """The registry's rows for a sheet, as column key → value."""
    units = {u.id: u for u in session.scalars(select(Unit))}
    outlets = {o.id: o for o in session.scalars(select(Outlet))}
    credit = {uid: u.credit_code for uid, u in units.items()}
    if sheet.name == "units":
        for u in sorted(units.values(), key=lambda u: u.credit_code):
            yield {c.key: getattr(u, c.key, None) for c in sheet.columns} | {
                "coord_system": "wgs84" if u.lon is not None else None
            }
    elif sheet.name == "outlets":
        for o in sorted(outlets.values(), key=lambda o: (credit[o.unit_id], o.code)):
            yield {c.key: getattr(o, c.key, None) for c in sheet.columns} | {"credit_code": credit[o.unit_id]}
    elif sheet.name == "devices":
        for d in session.scalars(select(Device).order_by(Device.mn)):
            outlet = outlets[d.outlet_id]
            yield {c.key: getattr(d, c.key, None) for c in sheet.columns} | {
                "credit_code": credit[outlet.unit_id],
                "outlet_code": outlet.code,
                "password": None,
                "replaces_mn": None,
            }
    elif sheet.name == "limits":
        for lim in session.scalars(select(Limit).order_by(Limit.outlet_id, Limit.factor, Limit.valid_from)):
            outlet = outlets[lim.outlet_id]
            yield {c.key: getattr(lim, c.key, None) for c in sheet.columns} | {
                "credit_code": credit[outlet.unit_id],
                "outlet_code": outlet.code,
            }
    elif sheet.name == "permits":
        for cap in session.scalars(
            select(PermitCap).order_by(PermitCap.unit_id, PermitCap.factor, PermitCap.valid_from)
        ):
            yield {c.key: getattr(cap, c.key, None) for c in sheet.columns} | {
                "credit_code": credit[cap.unit_id],
                "outlet_code": outlets[cap.outlet_id].code if cap.outlet_id else None,
                "amount_t": cap.amount_kg / 1000,
            }
    elif sheet.name == "contacts":
        for person in session.scalars(select(Contact).order_by(Contact.name, Contact.phone)):
            yield {c.key: getattr(person, c.key, None) for c in sheet.columns} | {
                "credit_code": credit.get(person.unit_id) if person.unit_id else None,
            }
    elif sheet.name == "cameras":
        for cam in session.scalars(select(Camera).order_by(Camera.platform, Camera.channel_id)):
            yield {c.key: getattr(cam, c.key, None) for c in sheet.columns} | {
                "credit_code": credit[cam.unit_id],
                "outlet_code": outlets[cam.outlet_id].code if cam.outlet_id else None,
            }
    elif sheet.name == "meters":
        for meter in session.scalars(select(PowerMeter).order_by(PowerMeter.code)):
            yield {c.key: getattr(meter, c.key, None) for c in sheet.columns} | {"credit_code": credit[meter.unit_id]}


def cell(column: Column, value: Any) -> Any:
    """A value as written to a sheet: Chinese labels for choices, 是/否 for yes/no."""
    if value is None:
        return None
    if column.kind == "choice":
        labels = [spelling for spelling, stored in column.choices.items() if stored == value and not spelling.isascii()]
        return labels[0] if labels else value
    if column.kind == "bool":
        return "是" if value else "否"
    return value


def export_workbook(session: Session, path: Path, *, empty: bool = False) -> dict[str, int]:
    """Write every sheet to an .xlsx workbook (``empty``: the blank templates). Returns rows per sheet."""
    from openpyxl import Workbook  # noqa: PLC0415

    workbook = Workbook(write_only=True)
    counts = {}
    for sheet in SHEETS:
        worksheet = workbook.create_sheet(sheet.zh)
        worksheet.append([c.header for c in sheet.columns])
        count = 0
        if not empty:
            for row in rows_of(session, sheet):
                worksheet.append([cell(c, row.get(c.key)) for c in sheet.columns])
                count += 1
        counts[sheet.name] = count
    workbook.save(path)
    return counts


def export_csv(session: Session, directory: Path, *, empty: bool = False) -> dict[str, int]:
    """Write one CSV per sheet into ``directory`` (UTF-8 with BOM, so that Excel reads the Chinese)."""
    directory.mkdir(parents=True, exist_ok=True)
    counts = {}
    for sheet in SHEETS:
        count = 0
        with open(directory / f"{sheet.name}.csv", "w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow([c.header for c in sheet.columns])
            if not empty:
                for row in rows_of(session, sheet):
                    writer.writerow([_text(cell(c, row.get(c.key))) for c in sheet.columns])
                    count += 1
        counts[sheet.name] = count
    return counts


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
