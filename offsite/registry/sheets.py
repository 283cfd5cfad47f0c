"""The registry's sheets: one template per kind of row, each column declared once.

A header cell may be the column's key (``credit_code``), its Chinese label (统一社会信用代码) or
both (``统一社会信用代码 (credit_code)``), since officers fill in Chinese templates. Values are
parsed to their type here; what refers to other rows is checked by the importer.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from offsite.hj212.crc import CrcVariant
from offsite.registry import addresses, coordinates, credit_code
from offsite.registry.errors import RowError


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    zh: str
    kind: str = "text"  # text, int, float, date, bool, choice
    required: bool = False
    choices: dict[str, str] = field(default_factory=dict)
    """Accepted spellings (Chinese and English) → stored value."""
    max_len: int = 128
    check: Any = None
    """Optional callable(value) -> reason or None (text and int columns)."""

    @property
    def header(self) -> str:
        return f"{self.zh} ({self.key})"


@dataclass(frozen=True, slots=True)
class Sheet:
    name: str
    zh: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]

    def column(self, key: str) -> Column:
        return next(c for c in self.columns if c.key == key)


def _choices(pairs: Iterable[tuple[str, Iterable[str]]]) -> dict[str, str]:
    out = {}
    for stored, spellings in pairs:
        out[stored] = stored
        for spelling in spellings:
            out[spelling] = stored
    return out


def _credit(value: str) -> str | None:
    return credit_code.problem(value)


def _mn(value: str) -> str | None:
    if not re.fullmatch(r"[0-9A-Za-z_\-]{7,32}", value):
        return f"{value!r} is not an MN (7–32 letters, digits, - or _)"
    return None


PW_MAX = 32
"""Longest device access password (PW) accepted. HJ 212-2017 gives PW 6 characters; real loggers
send up to 24 (shared/domain/hj212.md §3.1, §8); the standard sets no larger bound, so 32 leaves
room without letting a cell of prose through."""

PW_FORBIDDEN = frozenset(";,=&#")
"""Characters PW cannot carry: it travels in the packet header as ``PW=…;`` (``;`` ends a field,
``=`` splits key and value, ``,`` ``&`` and ``#`` delimit CP items and frames)."""


def _password(value: str) -> str | None:
    # The reasons name the offending characters, never the password itself.
    bad = sorted({c for c in value if c in PW_FORBIDDEN or not "!" <= c <= "~"})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        return (
            f"contains {shown}, which HJ 212 cannot carry in PW: use printable ASCII without spaces "
            f"and without {' '.join(sorted(PW_FORBIDDEN))}"
        )
    return None


def _region(value: str) -> str | None:
    return None if re.fullmatch(r"\d{6}", value) else f"{value!r} is not a 6-digit division code"


def _industry(value: str) -> str | None:
    return None if re.fullmatch(r"[A-T]?\d{2,4}", value) else f"{value!r} is not a GB/T 4754 class (e.g. C3011)"


def _factors(value: str) -> str | None:
    bad = [f for f in _split(value) if not re.fullmatch(r"[a-z]\d{5}", f)]
    return f"{', '.join(bad)} not HJ 212-2017 factor codes" if bad else None


def _crc_variants(value: str) -> str | None:
    known = {v.value for v in CrcVariant}
    bad = [v for v in _split(value) if v not in known]
    return f"{', '.join(bad)} not CRC variants ({', '.join(sorted(known))})" if bad else None


def _minute_interval(value: int) -> str | None:
    # the rule of ``quality.intervals.interval_problem``, which the registry (a lower layer) cannot import
    if not 60 <= value <= 3600 or 3600 % value:
        return f"{value} s is not a minute-data interval: a divisor of 3600 between 60 and 3600 (60, 300, 600 …)"
    return None


def _split(value: str) -> list[str]:
    return [part.strip() for part in re.split(r"[,，;；\s]+", value) if part.strip()]


SUPERVISION = _choices([("national", ["国控"]), ("provincial", ["省控"]), ("city", ["市控"])])
STATUS = _choices([("producing", ["生产", "在产"]), ("stopped", ["停产"]), ("closed", ["关闭", "关停"])])
MEDIUM = _choices([("gas", ["废气"]), ("water", ["废水"])])
COORDS = _choices(
    [
        ("wgs84", ["WGS84", "WGS-84"]),
        ("gcj02", ["GCJ02", "GCJ-02", "高德", "腾讯"]),
        ("bd09", ["BD09", "BD-09", "百度"]),
    ]
)
VERSIONS = _choices([("2005", ["HJ/T212-2005"]), ("2017", ["HJ212-2017"]), ("2025", ["HJ212-2025"])])
BASIS = _choices([("corrected", ["折算"]), ("measured", ["实测"])])
PERIOD = _choices([("day", ["日", "日均值"]), ("hour", ["小时", "小时均值"])])
CAP_PERIOD = _choices([("year", ["年", "年度"]), ("month", ["月", "月度"]), ("day", ["日"])])
ROLES = _choices(
    [
        ("province_officer", ["省级执法人员", "省厅"]),
        ("city_officer", ["市级执法人员", "市局"]),
        ("county_officer", ["区县执法人员", "分局"]),
        ("enterprise_responsible", ["企业负责人"]),
        ("operator", ["运维人员"]),
    ]
)
CHANNELS = _choices([("sms", ["短信"]), ("email", ["邮件"]), ("webhook", ["企业微信", "钉钉"])])
CAMERA_TARGETS = _choices([("outlet", ["排放口"]), ("station_room", ["站房"]), ("treatment_facility", ["治理设施"])])
FLOW_BASIS = _choices(
    [("actual_wet", ["工况湿基", "工况", "实际"]), ("standard_dry", ["标干", "标态干基", "标况干基"])]
)
FLOW_UNIT = _choices([("m3/s", ["m³/s", "立方米/秒"]), ("m3/h", ["m³/h", "立方米/小时"]), ("L/s", ["l/s", "升/秒"])])
METER_TARGETS = _choices([("production", ["生产设施", "产污设施"]), ("treatment", ["治理设施", "治污设施"])])

UNITS = Sheet(
    "units",
    "重点排污单位",
    (
        Column("credit_code", "统一社会信用代码", required=True, max_len=18, check=_credit),
        Column("name", "单位名称", required=True),
        Column("industry_code", "行业类别代码", required=True, max_len=5, check=_industry),
        Column("region_code", "所在区县代码", required=True, max_len=6, check=_region),
        Column("park", "所在园区"),
        Column("address", "地址", max_len=256),
        Column("lon", "经度", kind="float"),
        Column("lat", "纬度", kind="float"),
        Column("coord_system", "坐标系", kind="choice", choices=COORDS),
        Column("supervision_level", "监管级别", kind="choice", choices=SUPERVISION),
        Column("status", "生产状态", kind="choice", choices=STATUS),
    ),
    key=("credit_code",),
)
OUTLETS = Sheet(
    "outlets",
    "排放口",
    (
        Column("credit_code", "统一社会信用代码", required=True, max_len=18, check=_credit),
        Column("code", "排放口编号", required=True, max_len=32),
        Column("name", "排放口名称", required=True),
        Column("medium", "排放口类型", kind="choice", required=True, choices=MEDIUM),
        Column("standard", "执行标准", max_len=64),
        Column("o2_ref", "基准氧含量", kind="float"),
        Column("area_m2", "烟道截面积", kind="float"),
    ),
    key=("credit_code", "code"),
)
DEVICES = Sheet(
    "devices",
    "数采仪",
    (
        Column("mn", "MN编码", required=True, max_len=32, check=_mn),
        Column("credit_code", "统一社会信用代码", required=True, max_len=18, check=_credit),
        Column("outlet_code", "排放口编号", required=True, max_len=32),
        Column("password", "访问密码", max_len=PW_MAX, check=_password),
        Column("protocol_version", "协议版本", kind="choice", choices=VERSIONS),
        Column("crc_variants", "CRC方式", max_len=48, check=_crc_variants),
        Column("factors", "监测因子", max_len=1000, check=_factors),
        Column("operator", "运维单位"),
        Column("installed_on", "安装日期", kind="date"),
        Column("networked_on", "联网日期", kind="date"),
        Column("active", "启用", kind="bool"),
        Column("replaces_mn", "原MN编码", max_len=32, check=_mn),
        Column("minute_interval_s", "分钟数据间隔(秒)", kind="int", check=_minute_interval),
        Column("flow_basis", "流量基准", kind="choice", choices=FLOW_BASIS),
        Column("flow_unit", "流量单位", kind="choice", choices=FLOW_UNIT),
    ),
    key=("mn",),
)
LIMITS = Sheet(
    "limits",
    "排放限值",
    (
        Column("credit_code", "统一社会信用代码", required=True, max_len=18, check=_credit),
        Column("outlet_code", "排放口编号", required=True, max_len=32),
        Column("factor", "因子编码", required=True, max_len=16, check=_factors),
        Column("standard", "执行标准", required=True, max_len=64),
        Column("value", "限值", kind="float"),
        Column("lower", "下限", kind="float"),
        Column("basis", "判定依据", kind="choice", choices=BASIS),
        Column("period", "时段", kind="choice", choices=PERIOD),
        Column("valid_from", "生效日期", kind="date", required=True),
        Column("valid_to", "失效日期", kind="date"),
        Column("source", "来源", required=True, max_len=256),
    ),
    key=("credit_code", "outlet_code", "factor", "standard", "valid_from"),
)
PERMITS = Sheet(
    "permits",
    "许可排放量",
    (
        Column("credit_code", "统一社会信用代码", required=True, max_len=18, check=_credit),
        Column("outlet_code", "排放口编号", max_len=32),
        Column("factor", "因子编码", required=True, max_len=16, check=_factors),
        Column("period", "周期", kind="choice", required=True, choices=CAP_PERIOD),
        Column("amount_t", "许可排放量(吨)", kind="float", required=True),
        Column("permit_no", "排污许可证编号", required=True, max_len=64),
        Column("valid_from", "生效日期", kind="date", required=True),
        Column("valid_to", "失效日期", kind="date"),
    ),
    key=("credit_code", "outlet_code", "factor", "period", "valid_from"),
)
CONTACTS = Sheet(
    "contacts",
    "联系人",
    (
        Column("name", "姓名", required=True, max_len=64),
        Column("phone", "手机", required=True, max_len=20, check=addresses.phone_problem),
        Column("role", "角色", kind="choice", required=True, choices=ROLES),
        Column("email", "邮箱", check=addresses.email_problem),
        Column("channel", "通知方式", kind="choice", choices=CHANNELS),
        Column("region_code", "负责区域代码", max_len=6, check=_region),
        Column("credit_code", "统一社会信用代码", max_len=18, check=_credit),
    ),
    key=("name", "phone"),
)
CAMERAS = Sheet(
    "cameras",
    "视频监控",
    (
        Column("platform", "视频平台", required=True, max_len=64),
        Column("channel_id", "通道编号", required=True, max_len=64),
        Column("credit_code", "统一社会信用代码", required=True, max_len=18, check=_credit),
        Column("outlet_code", "排放口编号", max_len=32),
        Column("target", "监控对象", kind="choice", required=True, choices=CAMERA_TARGETS),
        Column("name", "名称", required=True),
    ),
    key=("platform", "channel_id"),
)
METERS = Sheet(
    "meters",
    "用电监控",
    (
        Column("code", "电表编号", required=True, max_len=64),
        Column("credit_code", "统一社会信用代码", required=True, max_len=18, check=_credit),
        Column("target", "监测对象", kind="choice", required=True, choices=METER_TARGETS),
        Column("name", "名称", required=True),
        Column("rated_kw", "额定功率(kW)", kind="float", required=True),
    ),
    key=("code",),
)

SHEETS: tuple[Sheet, ...] = (UNITS, OUTLETS, DEVICES, LIMITS, PERMITS, CONTACTS, CAMERAS, METERS)
"""In the order they are applied: what a row refers to comes first."""

_BY_NAME = {s.name: s for s in SHEETS} | {s.zh: s for s in SHEETS}


def sheet_named(name: str) -> Sheet | None:
    return _BY_NAME.get(name.strip())


@dataclass(slots=True)
class Table:
    """One sheet's rows as read: line number → column key → typed value."""

    sheet: Sheet
    source: str
    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


class _SheetTable(Table):
    """A table whose errors name their sheet."""

    def __init__(self, sheet: Sheet, source: str) -> None:
        super().__init__(sheet, source)
        self.errors = _Errors(sheet.name)


class _Errors(list[RowError]):
    def __init__(self, sheet: str) -> None:
        super().__init__()
        self.sheet = sheet

    def append(self, error: RowError) -> None:
        super().append(RowError(error.row, error.column, error.reason, error.sheet or self.sheet))


class UnreadableFile(ValueError):
    """The file cannot be read as a workbook or a CSV (a broken upload, a wrong format)."""


def read_file(path: Path, sheet_name: str | None = None) -> list[Table]:
    """The tables of an .xlsx workbook (one per known worksheet) or of one CSV file."""
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        return _read_xlsx(path)
    if suffix == ".csv":
        sheet = sheet_named(sheet_name or path.stem)
        if sheet is None:
            names = ", ".join(s.name for s in SHEETS)
            raise UnreadableFile(f"{path.name}: say which sheet it is (--sheet one of {names}) or name the file so")
        return [_table(sheet, path.name, _csv_rows(path))]
    raise UnreadableFile(f"{path.name}: expected an .xlsx workbook or a .csv file")


def _csv_rows(path: Path) -> list[list[Any]]:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):  # Excel on Chinese Windows saves CSV as GBK
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise UnreadableFile(f"{path.name}: neither UTF-8 nor GB18030 text")
    return list(csv.reader(io.StringIO(text)))


def _read_xlsx(path: Path) -> list[Table]:
    from openpyxl import load_workbook  # noqa: PLC0415 (only imports and exports need it)
    from openpyxl.utils.exceptions import InvalidFileException  # noqa: PLC0415

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, OSError, KeyError, ValueError) as exc:
        raise UnreadableFile(f"{path.name}: not a readable .xlsx workbook ({exc})") from exc
    except Exception as exc:  # zipfile.BadZipFile and friends from a truncated upload
        raise UnreadableFile(f"{path.name}: not a readable .xlsx workbook ({type(exc).__name__}: {exc})") from exc
    tables = []
    try:
        for worksheet in workbook.worksheets:
            sheet = sheet_named(worksheet.title)
            if sheet is None:
                continue
            rows = [list(row) for row in worksheet.iter_rows(values_only=True)]
            tables.append(_table(sheet, f"{path.name}:{worksheet.title}", rows))
    finally:
        workbook.close()
    if not tables:
        names = ", ".join(f"{s.name}/{s.zh}" for s in SHEETS)
        raise UnreadableFile(f"{path.name}: no worksheet is named after a registry sheet ({names})")
    return tables


def _table(sheet: Sheet, source: str, rows: list[list[Any]]) -> Table:
    table = _SheetTable(sheet, source)
    if not rows:
        table.errors.append(RowError(1, "header", "the sheet is empty: no header row"))
        return table
    by_header = {}
    for c in sheet.columns:
        for spelling in (c.key, c.zh, c.header):
            by_header[spelling] = c
    columns: list[Column | None] = []
    for index, cell in enumerate(rows[0], start=1):
        name = "" if cell is None else str(cell).strip()
        column = by_header.get(name)
        if column is None and name:
            table.errors.append(RowError(1, name, f"column {index} is not a column of {sheet.name}"))
        columns.append(column)
    present = {c.key for c in columns if c is not None}
    for c in sheet.columns:
        if c.required and c.key not in present:
            table.errors.append(RowError(1, c.key, f"required column {c.header} is missing"))
    if table.errors:
        return table
    for number, cells in enumerate(rows[1:], start=2):
        if all(cell is None or str(cell).strip() == "" for cell in cells):
            continue
        values: dict[str, Any] = {}
        for column, cell in zip(columns, cells, strict=False):
            if column is None:
                continue
            value, reason = parse_value(column, cell)
            if reason:
                table.errors.append(RowError(number, column.key, reason))
            else:
                values[column.key] = value
        for c in sheet.columns:
            if (
                c.required
                and values.get(c.key) in (None, "")
                and not any(e.row == number and e.column == c.key for e in table.errors)
            ):
                table.errors.append(RowError(number, c.key, "is required"))
        table.rows.append((number, values))
    return table


def parse_value(column: Column, cell: Any) -> tuple[Any, str | None]:
    """(typed value, None) or (None, reason)."""
    if cell is None or (isinstance(cell, str) and cell.strip() == ""):
        return None, None
    if column.kind == "float":
        try:
            number = float(str(cell).strip()) if not isinstance(cell, int | float) else float(cell)
        except ValueError:
            return None, f"{cell!r} is not a number"
        if not math.isfinite(number):
            # inf would be a limit never exceeded, nan a value no comparison or constraint can hold
            return None, f"{cell!r} is not a finite number"
        return number, None
    if column.kind == "int":
        text = str(cell).strip()
        try:
            number = float(text)
        except ValueError:
            return None, f"{cell!r} is not a whole number"
        if not number.is_integer():
            return None, f"{cell!r} is not a whole number"
        reason = column.check(int(number)) if column.check is not None else None
        return (None, reason) if reason else (int(number), None)
    if column.kind == "date":
        if isinstance(cell, datetime):
            return cell.date(), None
        if isinstance(cell, date):
            return cell, None
        text = str(cell).strip().replace("/", "-").replace(".", "-")
        try:
            return date.fromisoformat(text), None
        except ValueError:
            return None, f"{cell!r} is not a date (YYYY-MM-DD)"
    if column.kind == "bool":
        text = str(cell).strip().lower()
        if text in ("1", "true", "yes", "是", "启用"):
            return True, None
        if text in ("0", "false", "no", "否", "停用"):
            return False, None
        return None, f"{cell!r} is not yes/no (是/否)"
    text = str(cell).strip()
    if isinstance(cell, float) and cell.is_integer():
        text = str(int(cell))  # Excel turns codes typed as numbers into floats
    if column.kind == "choice":
        stored = column.choices.get(text)
        if stored is None:
            allowed = sorted({k for k in column.choices if not k.isascii()} | set(column.choices.values()))
            return None, f"{text!r} is not one of {', '.join(allowed)}"
        return stored, None
    if len(text) > column.max_len:
        return None, f"is {len(text)} characters long; at most {column.max_len}"
    if column.check is not None:
        reason = column.check(text)
        if reason:
            return None, reason
    return text, None


def normalise_coordinates(values: dict[str, Any]) -> str | None:
    """Convert lon/lat to WGS-84 in place; a reason if they are incomplete or outside China."""
    lon, lat = values.get("lon"), values.get("lat")
    if lon is None and lat is None:
        return None
    if lon is None or lat is None:
        return "give both longitude and latitude, or neither"
    system = values.pop("coord_system", None) or "wgs84"
    if not coordinates.in_china(lon, lat):
        return f"({lon}, {lat}) is outside China (longitude {coordinates.CHINA_LON}, latitude {coordinates.CHINA_LAT})"
    values["lon"], values["lat"] = coordinates.to_wgs84(lon, lat, system)
    return None
