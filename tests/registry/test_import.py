"""Registry import: all or nothing, idempotent, history kept; every broken sheet gets a full report."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from openpyxl import Workbook
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from offsite.db import session_factory
from offsite.registry import credit_code
from offsite.registry.coordinates import wgs84_to_gcj02
from offsite.registry.errors import ImportReport
from offsite.registry.exporter import export_csv, export_workbook
from offsite.registry.importer import import_tables
from offsite.registry.models import Contact, Device, DeviceMnChange, Limit, Outlet, RegistryChange, Unit
from offsite.registry.passwords import decrypt
from offsite.registry.regions import load_anhui
from offsite.registry.sheets import SHEETS, UnreadableFile, parse_value, read_file, sheet_named

FERNET = Fernet(Fernet.generate_key())
CEMENT = credit_code.make("91341300MA2NXQ0A1")
WATER = credit_code.make("91340100MA2NXQ0B2")


def base_rows() -> dict[str, list[dict[str, Any]]]:
    return {
        "units": [
            {
                "credit_code": CEMENT,
                "name": "示例建材有限公司",
                "industry_code": "C3011",
                "region_code": "341302",
                "lon": 116.98,
                "lat": 33.64,
                "supervision_level": "省控",
                "status": "生产",
            },
            {"credit_code": WATER, "name": "示例污水处理有限公司", "industry_code": "D4620", "region_code": "340111"},
        ],
        "outlets": [
            {
                "credit_code": CEMENT,
                "code": "DA001",
                "name": "窑尾排放口",
                "medium": "废气",
                "standard": "GB4915-2013-kiln",
                "o2_ref": 10,
                "area_m2": 7.1,
            },
            {"credit_code": WATER, "code": "DW001", "name": "总排口", "medium": "废水", "standard": "GB18918-2002-1A"},
        ],
        "devices": [
            {
                "mn": "34130000000000000000DA01",
                "credit_code": CEMENT,
                "outlet_code": "DA001",
                "password": "123456",
                "factors": "a21026,a21002,a34013,a19001",
                "operator": "示例运维公司",
                "networked_on": "2025-06-01",
                "minute_interval_s": 600,
                "flow_basis": "标干",
                "flow_unit": "m3/h",
            },
            {
                "mn": "34010000000000000000DW01",
                "credit_code": WATER,
                "outlet_code": "DW001",
                "password": "654321",
                "factors": "w01018,w21003,w00000",
            },
        ],
        "limits": [
            {
                "credit_code": CEMENT,
                "outlet_code": "DA001",
                "factor": "a21026",
                "standard": "GB4915-2013-kiln",
                "value": 200,
                "valid_from": "2024-01-01",
                "source": "排污许可证 91341300…",
            },
        ],
    }


def workbook(path: Path, rows: dict[str, list[dict[str, Any]]]) -> Path:
    book = Workbook()
    book.remove(book.active)
    for name, records in rows.items():
        sheet = sheet_named(name)
        assert sheet is not None
        ws = book.create_sheet(sheet.zh)
        keys = [c.key for c in sheet.columns if any(c.key in r for r in records)]
        ws.append([sheet.column(k).header for k in keys])
        for record in records:
            ws.append([record.get(k) for k in keys])
    book.save(path)
    return path


def run(engine: Engine, path: Path, sheet: str | None = None) -> ImportReport:
    with session_factory(engine)() as session, session.begin():
        report = import_tables(session, read_file(path, sheet), fernet=FERNET, source=path.name, now=datetime.now(UTC))
        if not report.ok:
            session.rollback()
    return report


def counts(engine: Engine) -> tuple[int, ...]:
    with Session(engine) as session:
        return tuple(
            int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Unit, Outlet, Device, Limit, RegistryChange)
        )


@pytest.fixture
def anhui(engine: Engine) -> Engine:
    with session_factory(engine)() as session, session.begin():
        load_anhui(session)
    return engine


def test_a_workbook_imports_and_importing_it_again_changes_nothing(anhui: Engine, tmp_path: Path) -> None:
    path = workbook(tmp_path / "registry.xlsx", base_rows())
    first = run(anhui, path)
    assert first.ok, first.errors
    assert (first.created, first.updated) == (7, 0)
    again = run(anhui, path)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 7)
    assert counts(anhui) == (2, 2, 2, 1, 7)
    with Session(anhui) as session:
        device = session.scalars(select(Device).where(Device.mn == "34130000000000000000DA01")).one()
        assert b"123456" not in device.password_enc
        assert decrypt(FERNET, device.password_enc) == "123456"
        unit = session.scalars(select(Unit).where(Unit.credit_code == CEMENT)).one()
        assert (unit.supervision_level, unit.status) == ("provincial", "producing")


def test_a_changed_row_updates_in_place_and_keeps_its_history(anhui: Engine, tmp_path: Path) -> None:
    rows = base_rows()
    run(anhui, workbook(tmp_path / "a.xlsx", rows))
    rows["limits"][0]["value"] = 100
    rows["units"][1]["status"] = "停产"
    report = run(anhui, workbook(tmp_path / "b.xlsx", rows))
    assert (report.created, report.updated) == (0, 2)
    with Session(anhui) as session:
        assert session.scalars(select(Limit.value)).one() == 100
        change = session.scalars(
            select(RegistryChange).where(RegistryChange.table_name == "outlet_limit").order_by(RegistryChange.id.desc())
        ).first()
        assert change is not None
        assert (change.before, change.after, change.source) == ({"value": 200.0}, {"value": 100.0}, "b.xlsx")


def test_gcj02_coordinates_are_stored_as_wgs84(anhui: Engine, tmp_path: Path) -> None:
    rows = base_rows()
    rows["units"][0].update(lon=116.9862, lat=33.6411, coord_system="高德")
    run(anhui, workbook(tmp_path / "gcj.xlsx", rows))
    with Session(anhui) as session:
        unit = session.scalars(select(Unit).where(Unit.credit_code == CEMENT)).one()
    assert unit.lon is not None
    assert unit.lat is not None
    back = wgs84_to_gcj02(unit.lon, unit.lat)
    assert abs(back[0] - 116.9862) < 1e-7
    assert abs(back[1] - 33.6411) < 1e-7
    shift_m = math.hypot((116.9862 - unit.lon) * 93_000, (33.6411 - unit.lat) * 111_000)
    assert 200 < shift_m < 900  # GCJ-02 moves points a few hundred metres


def _officer(**values: Any) -> dict[str, Any]:
    return {"name": "张三", "phone": "13800000000", "role": "区县执法人员", "region_code": "341302"} | values


def _water_limit(**values: Any) -> dict[str, Any]:
    return {
        "credit_code": WATER,
        "outlet_code": "DW001",
        "factor": "w01018",
        "standard": "GB18918-2002-1A",
        "value": 50,
        "valid_from": "2024-01-01",
        "source": "GB 18918-2002 表1",
    } | values


Rows = dict[str, list[dict[str, Any]]]
BROKEN: dict[str, tuple[Callable[[Rows], object], list[tuple[str, int, str, str]]]] = {
    "missing required column": (
        lambda r: [u.pop("industry_code") for u in r["units"]],
        [("units", 1, "industry_code", "required column 行业类别代码 (industry_code) is missing")],
    ),
    "bad credit code": (
        lambda r: r["units"][0].update(credit_code=CEMENT[:17] + "0"),
        [("units", 2, "credit_code", "fails its check digit")],
    ),
    "unknown region": (
        lambda r: r["units"][0].update(region_code="349999"),
        [("units", 2, "region_code", "349999 is not a known region")],
    ),
    "region that is a city": (
        lambda r: r["units"][0].update(region_code="341300"),
        [("units", 2, "region_code", "is a city; give the county or district")],
    ),
    "coordinates out of range": (
        lambda r: r["units"][0].update(lon=200.0),
        [("units", 2, "lon", "is outside China")],
    ),
    "duplicate MN": (
        lambda r: r["devices"].append(dict(r["devices"][0], outlet_code="DA001")),
        [("devices", 4, "mn", "is already on row 2")],
    ),
    "bad MN and unknown outlet": (
        lambda r: r["devices"][1].update(mn="AB", outlet_code="DW009"),
        [("devices", 3, "mn", "is not an MN")],
    ),
    "new device without password": (
        lambda r: r["devices"].append(dict(r["devices"][1], mn="34010000000000000000DW02", password=None)),
        [("devices", 4, "password", "needs its access password")],
    ),
    "water outlet with reference O2": (
        lambda r: r["outlets"][1].update(o2_ref=6),
        [("outlets", 3, "o2_ref", "applies to gas outlets only")],
    ),
    "device password with a character PW cannot carry": (
        lambda r: r["devices"][0].update(password="12;456"),
        [("devices", 2, "password", "contains ';', which HJ 212 cannot carry in PW")],
    ),
    "device password that is not ASCII": (
        lambda r: r["devices"][1].update(password="密码123"),
        [("devices", 3, "password", "which HJ 212 cannot carry in PW")],
    ),
    "device password longer than PW allows": (
        lambda r: r["devices"][1].update(password="9" * 33),
        [("devices", 3, "password", "is 33 characters long; at most 32")],
    ),
    "e-mail address with a header after a line break": (
        lambda r: r.setdefault("contacts", []).append(_officer(email="a@b.cn\r\nBcc: x@y.cn")),
        [("contacts", 2, "email", "'a@b.cn\\nBcc: x@y.cn' contains control characters (\\n)")],
    ),
    "two e-mail addresses in one cell": (
        lambda r: r.setdefault("contacts", []).append(_officer(email="a@b.cn, x@y.cn")),
        [("contacts", 2, "email", "'a@b.cn, x@y.cn' is not one plain e-mail address")],
    ),
    "e-mail address without a domain": (
        lambda r: r.setdefault("contacts", []).append(_officer(email="zhangsan")),
        [("contacts", 2, "email", "'zhangsan' is not an e-mail address")],
    ),
    "two mobile numbers in one cell": (
        lambda r: r.setdefault("contacts", []).append(_officer(phone="138000,139000")),
        [("contacts", 2, "phone", "'138000,139000' is not one telephone number")],
    ),
    "minute interval that does not divide the hour": (
        lambda r: r["devices"][0].update(minute_interval_s=420),
        [("devices", 2, "minute_interval_s", "420 s is not a minute-data interval: a divisor of 3600")],
    ),
    "minute interval under a minute": (
        lambda r: r["devices"][0].update(minute_interval_s=30),
        [("devices", 2, "minute_interval_s", "30 s is not a minute-data interval")],
    ),
    "minute interval in words": (
        lambda r: r["devices"][0].update(minute_interval_s="十分钟"),
        [("devices", 2, "minute_interval_s", "'十分钟' is not a whole number")],
    ),
    "unknown flow basis and unit": (
        lambda r: r["devices"][0].update(flow_basis="湿的", flow_unit="t/h"),
        [("devices", 2, "flow_basis", "'湿的' is not one of"), ("devices", 2, "flow_unit", "'t/h' is not one of")],
    ),
    "standard dry flow on a water outlet": (
        lambda r: r["devices"][1].update(flow_basis="standard_dry"),
        [("devices", 3, "flow_basis", "standard_dry (标干) applies to flue-gas flow")],
    ),
    "limit with neither bound": (
        lambda r: r["limits"][0].pop("value"),
        [("limits", 2, "value", "a limit needs an upper limit (限值), a lower one (下限) or both")],
    ),
    "corrected basis on a water outlet": (
        lambda r: r["limits"].append(_water_limit(basis="折算")),
        [("limits", 3, "basis", "outlet DW001 is water: give measured (实测) or leave it empty")],
    ),
    "limit that is infinite": (
        lambda r: r["limits"][0].update(value="inf"),
        [("limits", 2, "value", "'inf' is not a finite number")],
    ),
    "limit that is not a number (nan)": (
        lambda r: r["limits"][0].update(value="nan", lower="-Infinity"),
        [("limits", 2, "value", "'nan' is not a finite number"), ("limits", 2, "lower", "is not a finite number")],
    ),
    "cross-section that is infinite": (
        lambda r: r["outlets"][0].update(area_m2="1e999"),
        [("outlets", 2, "area_m2", "'1e999' is not a finite number")],
    ),
    "bad number and bad choice": (
        lambda r: r["limits"][0].update(value="两百", basis="大约"),
        [("limits", 2, "value", "is not a number"), ("limits", 2, "basis", "'大约' is not one of")],
    ),
}


@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
def test_a_broken_sheet_changes_nothing_and_is_reported_row_by_row(anhui: Engine, tmp_path: Path, case: str) -> None:
    rows = base_rows()
    run(anhui, workbook(tmp_path / "good.xlsx", rows))
    before = counts(anhui)
    rows = base_rows()
    rows["units"][1]["name"] = "改名了"  # a valid change that must not land either
    breaks, expected = BROKEN[case]
    breaks(rows)
    report = run(anhui, workbook(tmp_path / "bad.xlsx", rows))
    assert not report.ok
    found = [(e.sheet, e.row, e.column) for e in report.errors]
    for sheet, row, column, text in expected:
        assert (sheet, row, column) in found, (found, expected)
        message = next(str(e) for e in report.errors if (e.sheet, e.row, e.column) == (sheet, row, column))
        assert text in message
    assert counts(anhui) == before
    with Session(anhui) as session:
        assert session.scalars(select(Unit.name).where(Unit.credit_code == WATER)).one() == "示例污水处理有限公司"


def test_export_reimports_as_a_no_op_in_both_formats(anhui: Engine, tmp_path: Path) -> None:
    run(anhui, workbook(tmp_path / "in.xlsx", base_rows()))
    with Session(anhui) as session:
        assert export_workbook(session, tmp_path / "out.xlsx")["devices"] == 2
        export_csv(session, tmp_path / "csv")
    report = run(anhui, tmp_path / "out.xlsx")
    assert (report.created, report.updated, report.unchanged) == (0, 0, 7), report.errors
    for sheet in SHEETS:
        result = run(anhui, tmp_path / "csv" / f"{sheet.name}.csv")
        assert result.ok, (sheet.name, result.errors)
        assert (result.created, result.updated) == (0, 0), sheet.name


def test_a_devices_interval_and_flow_basis_and_unit_are_stored_and_exported(anhui: Engine, tmp_path: Path) -> None:
    report = run(anhui, workbook(tmp_path / "in.xlsx", base_rows()))
    assert report.ok, report.errors
    with Session(anhui) as session:
        stored = session.execute(
            select(Device.mn, Device.minute_interval_s, Device.flow_basis, Device.flow_unit).order_by(Device.mn)
        ).all()
        export_csv(session, tmp_path / "csv")
    assert stored == [
        ("34010000000000000000DW01", None, None, None),
        ("34130000000000000000DA01", 600, "standard_dry", "m3/h"),
    ]
    exported = (tmp_path / "csv" / "devices.csv").read_text(encoding="utf-8-sig").splitlines()
    assert exported[0].endswith("分钟数据间隔(秒) (minute_interval_s),流量基准 (flow_basis),流量单位 (flow_unit)")
    assert exported[2].endswith(",600,标干,m³/h")


def test_a_limit_with_only_a_lower_bound_is_stored(anhui: Engine, tmp_path: Path) -> None:
    rows = base_rows()
    rows["limits"].append(
        {
            "credit_code": WATER,
            "outlet_code": "DW001",
            "factor": "w01001",
            "standard": "GB18918-2002-1A",
            "lower": 6,
            "valid_from": "2024-01-01",
            "source": "GB 18918-2002 表1",
        }
    )
    report = run(anhui, workbook(tmp_path / "in.xlsx", rows))
    assert report.ok, report.errors
    with Session(anhui) as session:
        assert session.execute(select(Limit.value, Limit.lower).where(Limit.factor == "w01001")).one() == (None, 6.0)


def test_a_gbk_csv_from_excel_is_read(anhui: Engine, tmp_path: Path) -> None:
    run(anhui, workbook(tmp_path / "in.xlsx", base_rows()))
    path = tmp_path / "联系人.csv"
    path.write_bytes(
        f"姓名,手机,角色,负责区域代码,统一社会信用代码\n张三,13800000000,区县执法人员,341302,\n李四,13900000000,企业负责人,,{CEMENT}\n".encode(
            "gb18030"
        )
    )
    report = run(anhui, path)
    assert report.ok, report.errors
    assert report.created == 2


def test_a_replaced_logger_keeps_the_device_and_records_the_mn_change(anhui: Engine, tmp_path: Path) -> None:
    rows = base_rows()
    run(anhui, workbook(tmp_path / "a.xlsx", rows))
    rows["devices"][0].update(mn="34130000000000000000DA02", replaces_mn="34130000000000000000DA01", password=None)
    report = run(anhui, workbook(tmp_path / "b.xlsx", rows))
    assert report.ok, report.errors
    assert report.updated == 1
    with Session(anhui) as session:
        (change,) = session.scalars(select(DeviceMnChange)).all()
        assert (change.old_mn, change.new_mn) == ("34130000000000000000DA01", "34130000000000000000DA02")
        assert session.scalar(select(func.count()).select_from(Device)) == 2


def test_broken_uploads_are_typed_errors(tmp_path: Path) -> None:
    truncated = tmp_path / "upload.xlsx"
    workbook(truncated, base_rows())
    truncated.write_bytes(truncated.read_bytes()[:300])
    with pytest.raises(UnreadableFile, match=r"not a readable \.xlsx"):
        read_file(truncated)
    (tmp_path / "data.csv").write_text("a\n")
    with pytest.raises(UnreadableFile, match="say which sheet"):
        read_file(tmp_path / "data.csv")
    with pytest.raises(UnreadableFile, match=r"expected an \.xlsx"):
        read_file(tmp_path / "registry.xls")
    unrelated = Workbook()
    unrelated.active.title = "Sheet1"
    unrelated.save(tmp_path / "other.xlsx")
    with pytest.raises(UnreadableFile, match="no worksheet is named"):
        read_file(tmp_path / "other.xlsx")


def test_a_csv_contact_whose_email_carries_a_crlf_header_is_refused_by_row_and_column(
    anhui: Engine, tmp_path: Path
) -> None:
    run(anhui, workbook(tmp_path / "in.xlsx", base_rows()))
    path = tmp_path / "contacts.csv"
    path.write_bytes(
        "姓名,手机,角色,邮箱,通知方式,负责区域代码\r\n"
        "李四,13900000000,区县执法人员,li@example.cn,邮件,341302\r\n"
        '张三,13800000000,区县执法人员,"a@b.cn\r\nBcc: x@y.cn",邮件,341302\r\n'.encode()
    )
    report = run(anhui, path)
    assert [str(e) for e in report.errors] == [
        "contacts, row 3, email: 'a@b.cn\\r\\nBcc: x@y.cn' contains control characters (\\n, \\r); give one address"
    ]
    with Session(anhui) as session:  # all or nothing: the good row on line 2 is not imported either
        assert session.scalar(select(func.count()).select_from(Contact)) == 0


def test_a_refused_password_is_named_by_its_characters_never_echoed(anhui: Engine, tmp_path: Path) -> None:
    rows = base_rows()
    rows["devices"][0]["password"] = "Secret#1&2"
    report = run(anhui, workbook(tmp_path / "pw.xlsx", rows))
    [error] = report.errors
    assert (error.sheet, error.row, error.column) == ("devices", 2, "password")
    assert "'#', '&'" in error.reason
    assert "Secret" not in str(error)


@pytest.mark.parametrize("cell", ["nan", "NaN", "inf", "-inf", "Infinity", float("nan"), float("inf")])
def test_no_float_column_takes_a_number_that_is_not_finite(cell: Any) -> None:
    floats = [(sheet.name, c) for sheet in SHEETS for c in sheet.columns if c.kind == "float"]
    assert len(floats) >= 7  # lon, lat, o2_ref, area_m2, value, lower, amount_t, rated_kw
    for name, column in floats:
        value, reason = parse_value(column, cell)
        assert value is None, (name, column.key)
        assert reason is not None
        assert "is not a finite number" in reason


def test_a_nan_limit_in_a_csv_is_a_row_error_not_a_crash(anhui: Engine, tmp_path: Path) -> None:
    run(anhui, workbook(tmp_path / "in.xlsx", base_rows()))
    path = tmp_path / "limits.csv"
    path.write_text(
        "统一社会信用代码,排放口编号,因子编码,执行标准,限值,生效日期,来源\n"
        f"{WATER},DW001,w01018,GB18918-2002-1A,nan,2024-01-01,x\n",
        encoding="utf-8",
    )
    report = run(anhui, path)
    assert [str(e) for e in report.errors] == ["limits, row 2, value: 'nan' is not a finite number"]


def test_a_limit_without_a_basis_is_corrected_only_where_its_outlet_has_a_reference_o2(
    anhui: Engine, tmp_path: Path
) -> None:
    rows = base_rows()
    rows["outlets"].append(  # a flue whose standard is not in the table and which sets no reference O2
        {"credit_code": CEMENT, "code": "DA002", "name": "破碎机排气筒", "medium": "废气", "standard": "local-2020"}
    )
    rows["limits"] += [
        _water_limit(),
        {
            "credit_code": CEMENT,
            "outlet_code": "DA002",
            "factor": "a34013",
            "standard": "local-2020",
            "value": 10,
            "valid_from": "2024-01-01",
            "source": "地方标准",
        },
    ]
    report = run(anhui, workbook(tmp_path / "in.xlsx", rows))
    assert report.ok, report.errors
    with Session(anhui) as session:
        stored = dict(session.execute(select(Limit.factor, Limit.basis)).all())
    # the kiln (reference O2 10 %) corrects; the wastewater outlet and the flue without one do not
    assert stored == {"a21026": "corrected", "w01018": "measured", "a34013": "measured"}


def test_reimporting_a_limit_without_a_basis_repairs_a_stored_corrected_basis(anhui: Engine, tmp_path: Path) -> None:
    rows = base_rows()
    rows["limits"].append(_water_limit())
    path = workbook(tmp_path / "in.xlsx", rows)
    run(anhui, path)
    with session_factory(anhui)() as session, session.begin():
        session.execute(update(Limit).where(Limit.factor == "w01018").values(basis="corrected"))  # as imported before
    report = run(anhui, path)
    assert (report.updated, report.ok) == (1, True)
    with Session(anhui) as session:
        assert session.scalars(select(Limit.basis).where(Limit.factor == "w01018")).one() == "measured"
