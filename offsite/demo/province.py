"""The demo's province: Anhui's real cities and counties, fictional key units in them.

Everything goes in through the registry's own importer (the same rows an officer's workbook
would hold), so the demo's registry is checked exactly as a real one is. Unit names end in
（演示）: plainly fictional, and the mark by which a demo database is recognised.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import date, datetime

from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.orm import Session

from offsite.demo.errors import DemoError
from offsite.registry import credit_code
from offsite.registry.errors import ImportReport
from offsite.registry.importer import import_tables
from offsite.registry.models import Region
from offsite.registry.regions import load_anhui
from offsite.registry.sheets import CAMERAS, CONTACTS, DEVICES, LIMITS, METERS, OUTLETS, UNITS, Table
from offsite.registry.standards import standard

DEMO_MARK = "（演示）"
PROVINCE = "340000"
SUZHOU = "341300"  # 宿州市: the source article's case
GAS_FACTORS = ("a21026", "a21002", "a34013", "a19001", "a00000", "a01012", "a01014", "a01013")
WATER_FACTORS = ("w01018", "w21003", "w21011", "w21001", "w01001", "w00000")
VIDEO_PLATFORM = "demo-video"


@dataclass(frozen=True, slots=True)
class Kind:
    """A kind of key unit: its industry (GB/T 4754), the standard each outlet keeps to, and what
    its permit calls that outlet (a power plant's stack is no kiln's)."""

    name: str
    industry: str
    gas: str | None
    water: str | None
    gas_outlet: str = ""
    water_outlet: str = ""


KINDS = (
    Kind("建材", "C3011", "GB4915-2013-kiln", None, gas_outlet="水泥窑窑尾排气筒"),
    Kind("热电", "D4411", "GB13223-2011-coal", None, gas_outlet="1号燃煤锅炉烟囱"),
    Kind("化工", "C2614", "GB13271-2014-coal", "GB8978-1996-grade1", "燃煤锅炉排气筒", "废水总排放口"),
    Kind("垃圾焚烧发电", "D4417", "GB18485-2014-day", None, gas_outlet="1号焚烧炉排气筒"),
    Kind("污水处理", "D4620", None, "GB18918-2002-1A", water_outlet="尾水总排放口"),
    Kind("印染", "C1713", None, "GB8978-1996-grade1", water_outlet="废水总排放口"),
)
BUILDING_MATERIALS = KINDS[0]


@dataclass(frozen=True, slots=True)
class DemoOutlet:
    code: str
    medium: str
    standard: str
    mn: str
    password: str
    o2_ref: float | None
    limits: dict[str, float]
    camera: str | None
    """The station-room camera's channel on ``VIDEO_PLATFORM``."""


@dataclass(frozen=True, slots=True)
class DemoUnit:
    index: int
    credit_code: str
    name: str
    kind: Kind
    city: str
    county: str
    outlets: tuple[DemoOutlet, ...]
    meters: dict[str, str] = field(default_factory=dict)
    """Role (production, treatment) → meter code."""


def build(session: Session, fernet: Fernet, count: int, *, seed: int, now: datetime, kilns: int = 0) -> list[DemoUnit]:
    """Load Anhui's regions and ``count`` fictional units. The first ``kilns`` are building-
    materials companies (where the scenarios go), the very first of them in Suzhou (the source
    article's case)."""
    load_anhui(session)
    rng = random.Random(seed)
    cities, counties = _regions(session)
    units = [_unit(i, rng, cities, counties, kiln=i < kilns) for i in range(count)]
    report = import_tables(session, _tables(units, now.date()), fernet=fernet, source="offsite demo", now=now)
    _raise_on_errors(report)
    return units


def _raise_on_errors(report: ImportReport) -> None:
    if report.errors:
        shown = "; ".join(f"{e.sheet} row {e.row} {e.column}: {e.reason}" for e in report.errors[:5])
        raise DemoError(f"the registry refused {len(report.errors)} demo rows: {shown}")


def _regions(session: Session) -> tuple[dict[str, str], dict[str, list[tuple[str, str]]]]:
    """City code → name, and city code → its counties (code, name)."""
    rows = session.execute(select(Region.code, Region.name, Region.level, Region.parent_code)).all()
    cities = {code: name for code, name, level, parent in rows if level == "city" and parent == PROVINCE}
    counties: dict[str, list[tuple[str, str]]] = {code: [] for code in cities}
    for code, name, level, parent in rows:
        if level == "county" and parent in counties:
            counties[parent].append((code, name))
    return dict(sorted(cities.items())), {c: sorted(v) for c, v in counties.items()}


def _unit(
    index: int, rng: random.Random, cities: dict[str, str], counties: dict[str, list[tuple[str, str]]], *, kiln: bool
) -> DemoUnit:
    city = SUZHOU if index == 0 else list(cities)[index % len(cities)]
    kind = BUILDING_MATERIALS if kiln else KINDS[rng.randrange(len(KINDS))]
    county, _ = rng.choice(counties[city] or [(city, cities[city])])
    code = credit_code.make(f"91{county}{index:07d}XY")
    name = f"{cities[city].removesuffix('市')}{rng.choice(FIRMS)}{kind.name}有限公司{DEMO_MARK}"
    outlets = []
    if kind.gas:
        outlets.append(_outlet(index, 1, "gas", kind.gas, rng))
    if kind.water:
        outlets.append(_outlet(index, len(outlets) + 1, "water", kind.water, rng))
    meters = {"production": f"PM{index:05d}P", "treatment": f"PM{index:05d}T"} if kind.gas else {}
    return DemoUnit(index, code, name, kind, city, county, tuple(outlets), meters)


FIRMS = [
    "恒泰",
    "华清",
    "瑞丰",
    "金源",
    "宏达",
    "永盛",
    "新元",
    "东方",
    "长江",
    "淮海",
    "皖北",
    "徽源",
    "青山",
    "明德",
    "润泽",
    "天成",
]


def _outlet(unit: int, number: int, medium: str, key: str, rng: random.Random) -> DemoOutlet:
    std = standard(key)
    measured = GAS_FACTORS if medium == "gas" else WATER_FACTORS
    # a permit numbers each medium's outlets from 001 (DA001, DW001); the MN keeps ``number``
    code = f"D{'A' if medium == 'gas' else 'W'}001"
    mn = f"34{unit:08d}{number:02d}{'31' if medium == 'gas' else '32'}"
    return DemoOutlet(
        code=code,
        medium=medium,
        standard=key,
        mn=mn,
        password=f"{rng.randrange(10**6):06d}",
        o2_ref=std.o2_ref,
        limits={f: v for f, v in std.limits.items() if f in measured},
        camera=mn if medium == "gas" else None,
    )


def _tables(units: list[DemoUnit], today: date) -> list[Table]:
    sheets = (UNITS, OUTLETS, DEVICES, LIMITS, CONTACTS, CAMERAS, METERS)
    rows: dict[str, list[dict[str, object]]] = {sheet.name: [] for sheet in sheets}
    since = date(today.year - 1, 1, 1)
    for u in units:
        rows[UNITS.name].append(
            {
                "credit_code": u.credit_code,
                "name": u.name,
                "industry_code": u.kind.industry,
                "region_code": u.county,
                "supervision_level": "provincial",
                "status": "producing",
            }
        )
        rows[CONTACTS.name].append(
            {
                "name": f"企业负责人{u.index:04d}",
                "phone": f"139{u.index:08d}",
                "role": "enterprise_responsible",
                "channel": "sms",
                "credit_code": u.credit_code,
            }
        )
        for o in u.outlets:
            _outlet_rows(rows, u, o, since)
        for role, meter in u.meters.items():
            rows[METERS.name].append(
                {
                    "code": meter,
                    "credit_code": u.credit_code,
                    "target": role,
                    "name": "生产线总表" if role == "production" else "治污设施电表",
                    "rated_kw": 1000.0 if role == "production" else 320.0,
                }
            )
    rows[CONTACTS.name] += _officers(units)
    return [Table(sheet, "offsite demo", list(enumerate(rows[sheet.name], start=2))) for sheet in sheets]


def citation(source: str) -> str:
    """The standard and clause a limit cites, as a permit writes it ("GB 13223-2011 表1"): the
    table's note on where the figure was read (", via screening-rules.md …") is ours, not the law's."""
    cited = source.split(", via ", 1)[0].strip()
    return re.sub(r"\bTable (\d+)", r"表\1", cited)


def _outlet_rows(rows: dict[str, list[dict[str, object]]], u: DemoUnit, o: DemoOutlet, since: date) -> None:
    gas = o.medium == "gas"
    rows[OUTLETS.name].append(
        {
            "credit_code": u.credit_code,
            "code": o.code,
            "name": u.kind.gas_outlet if gas else u.kind.water_outlet,
            "medium": o.medium,
            "standard": o.standard,
            "o2_ref": o.o2_ref if gas else None,
            "area_m2": 12.0 if gas else None,
        }
    )
    rows[DEVICES.name].append(
        {
            "mn": o.mn,
            "credit_code": u.credit_code,
            "outlet_code": o.code,
            "password": o.password,
            "protocol_version": "2017",
            "crc_variants": "hj212",
            "factors": ",".join(GAS_FACTORS if gas else WATER_FACTORS),
            "operator": "皖演示环境运维有限公司",
            "installed_on": since,
            "networked_on": since,
            "active": True,
        }
    )
    std = standard(o.standard)
    for factor, value in o.limits.items():
        rows[LIMITS.name].append(
            {
                "credit_code": u.credit_code,
                "outlet_code": o.code,
                "factor": factor,
                "standard": o.standard,
                "value": value,
                "basis": "corrected" if gas else "measured",
                "period": std.period,
                "valid_from": since,
                "source": citation(std.source),
            }
        )
    if o.camera:
        rows[CAMERAS.name].append(
            {
                "platform": VIDEO_PLATFORM,
                "channel_id": o.camera,
                "credit_code": u.credit_code,
                "outlet_code": o.code,
                "target": "station_room",
                "name": "站房",
            }
        )


def _officers(units: list[DemoUnit]) -> list[dict[str, object]]:
    """One officer for the province, each city and each county that has units: the province and
    cities by e-mail, the counties by SMS."""
    out: list[dict[str, object]] = [_officer("province_officer", PROVINCE, 0, "email")]
    for n, city in enumerate(sorted({u.city for u in units}), start=1):
        out.append(_officer("city_officer", city, n, "email"))
    for n, county in enumerate(sorted({u.county for u in units}), start=100):
        out.append(_officer("county_officer", county, n, "sms"))
    return out


def _officer(role: str, region: str, n: int, channel: str) -> dict[str, object]:
    return {
        "name": f"执法人员{region}",
        "phone": f"138{n:08d}",
        "role": role,
        "email": f"officer-{region}@demo.offsite.invalid",
        "channel": channel,
        "region_code": region,
    }
