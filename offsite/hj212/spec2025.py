"""Everything the codec assumes about HJ 212-2025, in one table.

HJ 212-2025 (污染物自动监测监控系统数据传输技术要求) was issued 2025-06-06 and is in force from
2026-01-01. Its text could not be read for this project: every fact below comes from one public
implementation that follows it (caoyiliang/HJ212, files ``HJ212/Enum.cs`` and
``HJ212/Request/HeartbeatReq.cs``) and is marked ``verified=False`` until checked against the
standard. Correct a fact here and the codec follows; nothing 2025-specific lives elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

SOURCE = "caoyiliang/HJ212 (HJ212/Enum.cs, HJ212/Request/HeartbeatReq.cs)"


@dataclass(frozen=True, slots=True)
class Fact:
    name: str
    value: object
    source: str
    verified: bool


FLAG_VERSION_BITS = 2
"""Flag bits V5..V0 (Flag >> 2) of a 2025 packet: Flag = 8 plain, 9 with ack requested."""

HEARTBEAT_CN = "9015"
"""Device heartbeat; sent with ``CP=&&&&``, A bit set when the device wants an answer."""

REPLY_FLAG = FLAG_VERSION_BITS << 2
"""Flag of the platform's 9013/9014 replies to a 2025 device (2017 uses 4: version bits only)."""

NEW_COMMANDS: dict[str, tuple[str, str]] = {
    "1001": ("上传数采仪硬件序号", "upload data-logger hardware ids"),
    "1002": ("设置数采仪MN编码", "set data-logger MN"),
    "1014": ("密钥下发/获取", "secret key exchange"),
    "2013": ("原始监测数据", "raw monitoring data"),
    "2052": ("噪声单次测量数据", "single noise measurement"),
    "2062": ("自动标样核查（校准）数据", "automatic standard-sample check data"),
    "2111": ("炉膛温度5min均值", "furnace temperature 5-minute mean"),
    "3022": ("下发即时留样任务", "immediate sample retention"),
    "3024": ("启动标样核查", "start standard-sample check"),
    "9015": ("心跳包", "heartbeat"),
}

FACTS: tuple[Fact, ...] = (
    Fact("flag_version_bits", FLAG_VERSION_BITS, SOURCE + " Version.HJT212_2025 = 8", False),
    Fact("heartbeat_cn", HEARTBEAT_CN, SOURCE + " CN_Client.心跳包 = 9015", False),
    Fact("reply_flag", REPLY_FLAG, "inferred: 2017 rule (version bits, no ack) applied", False),
    Fact("new_commands", tuple(NEW_COMMANDS), SOURCE + " CN_Server / CN_Client", False),
)
