"""Command codes CN (HJ 212-2017 Table 9, HJ/T 212-2005 extras, vendor and 2025 additions)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from offsite.hj212 import spec2025


class Kind(StrEnum):
    """How a command is answered when it arrives at the platform."""

    UPLOAD = "upload"  # device → platform data; answered 9014 when A=1
    REQUEST = "request"  # platform → device; the device answers 9011, then 9012
    NOTICE = "notice"  # answered 9013 by the receiver
    REPLY = "reply"  # 9011–9014: never answered (2005: the platform still acks 9012)
    HEARTBEAT = "heartbeat"  # keep-alive; answered 9014 when A=1


@dataclass(frozen=True, slots=True)
class Command:
    cn: str
    name_zh: str
    name_en: str
    kind: Kind
    """What the command is when a device sends it to the platform."""
    since: str = "2017"


_TABLE: tuple[Command, ...] = (
    Command("1000", "设置超时时间及重发次数", "set timeout and retries", Kind.REQUEST),
    Command("1011", "提取/上传现场机时间", "get/upload device time", Kind.UPLOAD, "2005"),
    Command("1012", "设置现场机时间", "set device time", Kind.REQUEST, "2005"),
    Command("1013", "现场机时间校准请求", "device asks for time calibration", Kind.NOTICE),
    Command("1061", "提取/上传实时数据间隔", "get/upload real-time interval", Kind.UPLOAD),
    Command("1062", "设置实时数据间隔", "set real-time interval", Kind.REQUEST),
    Command("1063", "提取/上传分钟数据间隔", "get/upload minute interval", Kind.UPLOAD),
    Command("1064", "设置分钟数据间隔", "set minute interval", Kind.REQUEST),
    Command("1072", "设置现场机访问密码", "set access password", Kind.REQUEST, "2005"),
    Command("2011", "上传污染物实时数据", "real-time data", Kind.UPLOAD, "2005"),
    Command("2012", "停止察看污染物实时数据", "stop real-time data", Kind.NOTICE, "2005"),
    Command("2021", "上传设备运行状态数据", "facility running state", Kind.UPLOAD, "2005"),
    Command("2022", "停止察看设备运行状态", "stop running-state data", Kind.NOTICE, "2005"),
    Command("2031", "上传污染物日历史数据", "daily data", Kind.UPLOAD, "2005"),
    Command("2041", "上传设备运行时间日历史数据", "facility daily run time", Kind.UPLOAD, "2005"),
    Command("2051", "上传污染物分钟数据", "minute data", Kind.UPLOAD, "2005"),
    Command("2061", "上传污染物小时数据", "hourly data", Kind.UPLOAD, "2005"),
    Command("2081", "上传数采仪开机时间", "data-logger restart time", Kind.UPLOAD),
    Command("3011", "零点校准量程校准", "zero/span calibration", Kind.REQUEST, "2005"),
    Command("3012", "即时采样", "immediate sampling", Kind.REQUEST, "2005"),
    Command("3013", "启动清洗/反吹", "start cleaning/blow-back", Kind.REQUEST, "2005"),
    Command("3014", "比对采样", "comparison sampling", Kind.REQUEST, "2005"),
    Command("3015", "超标留样", "over-limit sample retention", Kind.UPLOAD),
    Command("3016", "设置采样时间周期", "set sampling period", Kind.REQUEST),
    Command("3017", "提取/上传采样时间周期", "get/upload sampling period", Kind.UPLOAD),
    Command("3018", "提取/上传出样时间", "get/upload sample-output time", Kind.UPLOAD),
    Command("3019", "提取/上传设备唯一标识", "get/upload instrument id", Kind.UPLOAD),
    Command("3020", "提取/上传现场机信息", "get/upload site information", Kind.UPLOAD),
    Command("3021", "设置现场机参数", "set site parameter", Kind.REQUEST),
    Command("9011", "请求应答", "request response", Kind.REPLY, "2005"),
    Command("9012", "执行结果", "execution result", Kind.REPLY, "2005"),
    Command("9013", "通知应答", "notice response", Kind.REPLY, "2005"),
    Command("9014", "数据应答", "data response", Kind.REPLY, "2005"),
    # HJ/T 212-2005 only (removed in 2017)
    Command("1001", "设置报警时间/上传数采仪硬件序号", "2005: set alarm delay; 2025: logger ids", Kind.UPLOAD, "2005"),
    Command("1021", "提取污染物报警门限值", "get alarm thresholds", Kind.UPLOAD, "2005"),
    Command("1022", "设置污染物报警门限值", "set alarm thresholds", Kind.REQUEST, "2005"),
    Command("1031", "提取上位机地址", "get host address", Kind.UPLOAD, "2005"),
    Command("1032", "设置上位机地址", "set host address", Kind.REQUEST, "2005"),
    Command("1041", "提取数据上报时间", "get report time", Kind.UPLOAD, "2005"),
    Command("1042", "设置数据上报时间", "set report time", Kind.REQUEST, "2005"),
    Command("2071", "上传报警记录", "alarm records", Kind.UPLOAD, "2005"),
    Command("2072", "上传报警事件", "alarm event", Kind.NOTICE, "2005"),
    # Vendor extensions seen in the field
    Command("9021", "登录/心跳（厂商扩展）", "login/heartbeat (vendor)", Kind.HEARTBEAT, "vendor"),
    Command("8051", "周期数据（厂商扩展）", "periodic data (vendor)", Kind.UPLOAD, "vendor"),
)

_2025_KINDS = {
    "1002": Kind.REQUEST,
    "1014": Kind.UPLOAD,
    "2013": Kind.UPLOAD,
    "2052": Kind.UPLOAD,
    "2062": Kind.UPLOAD,
    "2111": Kind.UPLOAD,
    "3022": Kind.REQUEST,
    "3024": Kind.REQUEST,
    spec2025.HEARTBEAT_CN: Kind.HEARTBEAT,
}

COMMANDS: dict[str, Command] = {c.cn: c for c in _TABLE}
for _cn, (_zh, _en) in spec2025.NEW_COMMANDS.items():
    COMMANDS.setdefault(_cn, Command(_cn, _zh, _en, _2025_KINDS.get(_cn, Kind.UPLOAD), "2025"))


def command(cn: str) -> Command | None:
    return COMMANDS.get(cn)


def kind_of(cn: str) -> Kind:
    """How a command arriving at the platform is treated; unknown codes count as uploads."""
    known = COMMANDS.get(cn)
    return known.kind if known else Kind.UPLOAD
