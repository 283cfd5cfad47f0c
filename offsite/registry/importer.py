"""Importing registry sheets: all or nothing, idempotent, every change kept in history.

The caller runs ``import_tables`` inside a transaction and rolls back when the report has
errors, so a file with one bad row changes nothing. Rows are matched by their natural keys
(credit code, outlet code, MN …): the same file imported twice is a no-op, and a changed row
is updated in place with its before/after recorded in ``registry_change``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.orm import Session

from offsite.registry.errors import ImportReport, RowError
from offsite.registry.models import (
    Camera,
    Contact,
    Device,
    DeviceMnChange,
    Limit,
    Outlet,
    PermitCap,
    PowerMeter,
    Region,
    RegistryChange,
    Unit,
)
from offsite.registry.passwords import decrypt, encrypt
from offsite.registry.sheets import Table, normalise_coordinates
from offsite.registry.standards import reference_o2

DEFAULTS: dict[str, dict[str, Any]] = {
    "units": {"supervision_level": "provincial", "status": "producing"},
    "devices": {"protocol_version": "2017", "crc_variants": "hj212", "factors": "", "active": True},
    "limits": {"period": "day"},  # the basis defaults per outlet: ``_default_basis``
    "contacts": {"channel": "sms"},
}


@dataclass(slots=True)
class _Context:
    session: Session
    fernet: Fernet
    report: ImportReport
    source: str
    now: datetime
    sheet: str = ""

    def error(self, row: int, column: str, reason: str) -> None:
        self.report.errors.append(RowError(row, column, reason, self.sheet))

    def record(self, table: str, key: str, before: dict[str, Any] | None, after: dict[str, Any]) -> None:
        self.session.add(
            RegistryChange(
                table_name=table, row_key=key, changed_at=self.now, before=before, after=after, source=self.source
            )
        )


def import_tables(session: Session, tables: list[Table], *, fernet: Fernet, source: str, now: datetime) -> ImportReport:
    """Apply the tables in dependency order; the report lists every bad row and column."""
    report = ImportReport(source)
    for table in tables:
        report.errors.extend(table.errors)
    ctx = _Context(session, fernet, report, source, now)
    order = {name: i for i, name in enumerate(_APPLY)}
    for table in sorted(tables, key=lambda t: order[t.sheet.name]):
        ctx.sheet = table.sheet.name
        rows = _without_duplicate_keys(ctx, table)
        apply = _APPLY[table.sheet.name]
        for number, values in rows:
            if any(e.row == number and e.sheet == table.sheet.name for e in report.errors):
                continue  # already reported; its references cannot be trusted
            for column, default in DEFAULTS.get(table.sheet.name, {}).items():
                if values.get(column) is None:
                    values[column] = default
            apply(ctx, number, values)
        session.flush()
    sheets = {name: i for i, name in enumerate(_APPLY)}
    report.errors.sort(key=lambda e: (sheets.get(e.sheet, -1), e.row))
    return report


def _without_duplicate_keys(ctx: _Context, table: Table) -> list[tuple[int, dict[str, Any]]]:
    seen: dict[tuple[Any, ...], int] = {}
    rows = []
    for number, values in table.rows:
        key = tuple(values.get(k) for k in table.sheet.key)
        if None not in key and key in seen:
            ctx.error(number, table.sheet.key[-1], f"{'/'.join(map(str, key))} is already on row {seen[key]}")
            continue
        seen.setdefault(key, number)
        rows.append((number, values))
    return rows


def _upsert(
    ctx: _Context, table: str, key: str, existing: Any | None, values: dict[str, Any], *, make: Callable[[], Any]
) -> Any:
    """Create, update changed fields in place, or leave alone; count it and keep the history."""
    if existing is None:
        row = make()
        for name, value in values.items():
            setattr(row, name, value)
        ctx.session.add(row)
        ctx.report.created += 1
        ctx.record(table, key, None, _jsonable(values))
        return row
    before = {name: getattr(existing, name) for name in values}
    changed = {name: value for name, value in values.items() if before[name] != value}
    if not changed:
        ctx.report.unchanged += 1
        return existing
    for name, value in changed.items():
        setattr(existing, name, value)
    ctx.report.updated += 1
    ctx.record(table, key, _jsonable({n: before[n] for n in changed}), _jsonable(changed))
    return existing


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, date):
            out[name] = value.isoformat()
        elif isinstance(value, bytes):
            out[name] = "(encrypted)"
        else:
            out[name] = value
    return out


def _unit(ctx: _Context, number: int, credit_code: str, column: str = "credit_code") -> Unit | None:
    unit = ctx.session.scalars(select(Unit).where(Unit.credit_code == credit_code)).first()
    if unit is None:
        ctx.error(number, column, f"no unit with credit code {credit_code} (add it to the units sheet)")
    return unit


def _outlet(ctx: _Context, number: int, credit_code: str, code: str) -> Outlet | None:
    unit = _unit(ctx, number, credit_code)
    if unit is None:
        return None
    outlet = ctx.session.scalars(select(Outlet).where(Outlet.unit_id == unit.id, Outlet.code == code)).first()
    if outlet is None:
        ctx.error(number, "outlet_code", f"unit {credit_code} has no outlet {code} (add it to the outlets sheet)")
    return outlet


def _apply_unit(ctx: _Context, number: int, values: dict[str, Any]) -> None:
    reason = normalise_coordinates(values)
    if reason:
        ctx.error(number, "lon", reason)
        return
    values.pop("coord_system", None)
    region = ctx.session.get(Region, values["region_code"])
    if region is None:
        ctx.error(number, "region_code", f"{values['region_code']} is not a known region (load its province first)")
        return
    if region.level != "county":
        ctx.error(
            number, "region_code", f"{region.code} {region.name} is a {region.level}; give the county or district"
        )
        return
    existing = ctx.session.scalars(select(Unit).where(Unit.credit_code == values["credit_code"])).first()
    _upsert(ctx, "unit", values["credit_code"], existing, values, make=Unit)


def _apply_outlet(ctx: _Context, number: int, values: dict[str, Any]) -> None:
    credit = values.pop("credit_code")
    unit = _unit(ctx, number, credit)
    if unit is None:
        return
    if values["medium"] == "water":
        for column in ("o2_ref", "area_m2"):
            if values.get(column) is not None:
                ctx.error(number, column, "applies to gas outlets only")
                return
    o2_ref = values.get("o2_ref")
    if o2_ref is not None and not 0 <= o2_ref < 21:
        ctx.error(number, "o2_ref", f"{o2_ref} is not an O2 content (0 to under 21 %)")
        return
    area = values.get("area_m2")
    if area is not None and area <= 0:
        ctx.error(number, "area_m2", f"{area} is not a cross-section (must be above 0)")
        return
    existing = ctx.session.scalars(
        select(Outlet).where(Outlet.unit_id == unit.id, Outlet.code == values["code"])
    ).first()
    values["unit_id"] = unit.id
    _upsert(ctx, "outlet", f"{credit}/{values['code']}", existing, values, make=Outlet)


def _apply_device(ctx: _Context, number: int, values: dict[str, Any]) -> None:
    outlet = _outlet(ctx, number, values.pop("credit_code"), values.pop("outlet_code"))
    if outlet is None:
        return
    replaces = values.pop("replaces_mn", None)
    password = values.pop("password", None)
    existing = ctx.session.scalars(select(Device).where(Device.mn == values["mn"])).first()
    if existing is None and replaces:
        existing = ctx.session.scalars(select(Device).where(Device.mn == replaces)).first()
        if existing is None:
            ctx.error(number, "replaces_mn", f"no device has MN {replaces} to be replaced")
            return
        ctx.session.add(
            DeviceMnChange(
                device_id=existing.id, old_mn=replaces, new_mn=values["mn"], changed_at=ctx.now, reason=ctx.source
            )
        )
    if existing is None and not password:
        ctx.error(number, "password", "a new device needs its access password (PW)")
        return
    if values.get("flow_basis") == "standard_dry" and outlet.medium != "gas":
        ctx.error(number, "flow_basis", f"standard_dry (标干) applies to flue-gas flow; outlet {outlet.code} is water")
        return
    values["outlet_id"] = outlet.id
    values["factors"] = ",".join(f.strip() for f in values["factors"].replace("，", ",").split(",") if f.strip())
    values["crc_variants"] = ",".join(v.strip() for v in values["crc_variants"].split(",") if v.strip())
    if password:
        current = None
        if existing is not None:
            current = decrypt(ctx.fernet, existing.password_enc)
        if password != current:
            values["password_enc"] = encrypt(ctx.fernet, password)
    _upsert(ctx, "device", values["mn"], existing, values, make=Device)


def _apply_limit(ctx: _Context, number: int, values: dict[str, Any]) -> None:
    credit, code = values.pop("credit_code"), values.pop("outlet_code")
    outlet = _outlet(ctx, number, credit, code)
    if outlet is None:
        return
    basis = values.get("basis")
    if basis is None:
        values["basis"] = _default_basis(outlet)
    elif basis == "corrected" and outlet.medium != "gas":
        ctx.error(
            number,
            "basis",
            f"corrected (折算) is the flue-gas reference-O2 basis; outlet {code} is water: "
            "give measured (实测) or leave it empty",
        )
        return
    upper, lower = values.get("value"), values.get("lower")
    if upper is None and lower is None:  # a lower bound alone is a limit (dissolved oxygen, pH ≥ 6)
        ctx.error(number, "value", "a limit needs an upper limit (限值), a lower one (下限) or both")
        return
    if upper is not None and upper <= 0:
        ctx.error(number, "value", f"{upper} is not a limit (must be above 0)")
        return
    if upper is not None and lower is not None and lower >= upper:
        ctx.error(number, "lower", f"lower limit {values['lower']} is not below the upper limit {values['value']}")
        return
    if values.get("valid_to") is not None and values["valid_to"] < values["valid_from"]:
        ctx.error(number, "valid_to", f"ends {values['valid_to']} before it starts {values['valid_from']}")
        return
    values["outlet_id"] = outlet.id
    existing = ctx.session.scalars(
        select(Limit).where(
            Limit.outlet_id == outlet.id,
            Limit.factor == values["factor"],
            Limit.standard == values["standard"],
            Limit.valid_from == values["valid_from"],
        )
    ).first()
    key = f"{credit}/{code}/{values['factor']}/{values['standard']}/{values['valid_from']}"
    changes = ctx.report.created + ctx.report.updated
    _upsert(ctx, "outlet_limit", key, existing, values, make=Limit)
    if ctx.report.created + ctx.report.updated > changes:
        start, report = values["valid_from"], ctx.report
        report.limits_from = min(start, report.limits_from) if report.limits_from else start


def _default_basis(outlet: Outlet) -> str:
    """The basis of a limit that names none: corrected (折算) only where the outlet has a reference
    O2 to correct to (its own, else its standard's); measured (实测) otherwise. A corrected-basis
    limit judges corrected values only, and a water outlet or a flue without a reference O2 never
    has one, so a corrected default there would be a limit that never judges anything."""
    if outlet.medium == "gas" and reference_o2(outlet.o2_ref, outlet.standard) is not None:
        return "corrected"
    return "measured"


def _unit_and_outlet(ctx: _Context, number: int, values: dict[str, Any]) -> bool:
    """Replace ``credit_code`` and the optional ``outlet_code`` by ``unit_id`` and ``outlet_id``
    (None without a code); False, with the error reported, if either names nothing."""
    credit, code = values.pop("credit_code"), values.pop("outlet_code", None)
    unit = _unit(ctx, number, credit)
    if unit is None:
        return False
    values["unit_id"], values["outlet_id"] = unit.id, None
    if code:
        outlet = _outlet(ctx, number, credit, code)
        if outlet is None:
            return False
        values["outlet_id"] = outlet.id
    return True


def _apply_permit(ctx: _Context, number: int, values: dict[str, Any]) -> None:
    credit, code = values["credit_code"], values.get("outlet_code")
    if not _unit_and_outlet(ctx, number, values):
        return
    tonnes = values.pop("amount_t")
    if tonnes <= 0:
        ctx.error(number, "amount_t", f"{tonnes} is not a permitted amount (must be above 0)")
        return
    if values.get("valid_to") is not None and values["valid_to"] < values["valid_from"]:
        ctx.error(number, "valid_to", f"ends {values['valid_to']} before it starts {values['valid_from']}")
        return
    values["amount_kg"] = tonnes * 1000
    existing = ctx.session.scalars(
        select(PermitCap).where(
            PermitCap.unit_id == values["unit_id"],
            PermitCap.outlet_id.is_(None)
            if values["outlet_id"] is None
            else PermitCap.outlet_id == values["outlet_id"],
            PermitCap.factor == values["factor"],
            PermitCap.period == values["period"],
            PermitCap.valid_from == values["valid_from"],
        )
    ).first()
    key = f"{credit}/{code or '*'}/{values['factor']}/{values['period']}/{values['valid_from']}"
    _upsert(ctx, "permit_cap", key, existing, values, make=PermitCap)


def _apply_contact(ctx: _Context, number: int, values: dict[str, Any]) -> None:
    credit = values.pop("credit_code", None)
    values["unit_id"] = None
    if credit:
        unit = _unit(ctx, number, credit)
        if unit is None:
            return
        values["unit_id"] = unit.id
    region = values.get("region_code")
    if region and ctx.session.get(Region, region) is None:
        ctx.error(number, "region_code", f"{region} is not a known region")
        return
    if values["role"].endswith("_officer") and not region:
        ctx.error(number, "region_code", "an officer needs the region they are responsible for")
        return
    if not values["role"].endswith("_officer") and values["unit_id"] is None:
        ctx.error(number, "credit_code", "an enterprise contact or operator needs the unit's credit code")
        return
    if values["channel"] == "email" and not values.get("email"):
        ctx.error(number, "email", "e-mail is the chosen channel but no address is given")
        return
    existing = ctx.session.scalars(
        select(Contact).where(Contact.name == values["name"], Contact.phone == values["phone"])
    ).first()
    _upsert(ctx, "contact", f"{values['name']}/{values['phone']}", existing, values, make=Contact)


def _apply_camera(ctx: _Context, number: int, values: dict[str, Any]) -> None:
    if not _unit_and_outlet(ctx, number, values):
        return
    existing = ctx.session.scalars(
        select(Camera).where(Camera.platform == values["platform"], Camera.channel_id == values["channel_id"])
    ).first()
    _upsert(ctx, "camera", f"{values['platform']}/{values['channel_id']}", existing, values, make=Camera)


def _apply_meter(ctx: _Context, number: int, values: dict[str, Any]) -> None:
    unit = _unit(ctx, number, values.pop("credit_code"))
    if unit is None:
        return
    if values["rated_kw"] <= 0:
        ctx.error(number, "rated_kw", f"{values['rated_kw']} is not a rated power (must be above 0)")
        return
    values["unit_id"] = unit.id
    existing = ctx.session.scalars(select(PowerMeter).where(PowerMeter.code == values["code"])).first()
    _upsert(ctx, "power_meter", values["code"], existing, values, make=PowerMeter)


_APPLY: dict[str, Callable[[_Context, int, dict[str, Any]], None]] = {
    "units": _apply_unit,
    "outlets": _apply_outlet,
    "devices": _apply_device,
    "limits": _apply_limit,
    "permits": _apply_permit,
    "contacts": _apply_contact,
    "cameras": _apply_camera,
    "meters": _apply_meter,
}
