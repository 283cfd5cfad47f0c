"""Instrument data flags (``xxxxxx-Flag``) and what each means for validity.

HJ 212-2017 Table 8 defines the letters; what they mean for statistics comes from HJ 75-2017 /
HJ 355-2019 practice (shared/domain/hj212.md §5.1, marked there to verify per province): N is
valid; T (above the measuring range) is a lower bound — not averaged as normal, but it counts
toward exceedance; every other letter excludes the value from statistics and exceedance.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Validity(StrEnum):
    VALID = "valid"
    LOWER_BOUND = "lower_bound"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class DataFlag:
    letter: str
    meaning_zh: str
    meaning_en: str
    validity: Validity
    meaning_2005_zh: str | None = None


FLAGS_2017: dict[str, DataFlag] = {
    f.letter: f
    for f in (
        DataFlag("N", "在线监控（监测）仪器仪表工作正常", "instrument normal", Validity.VALID, "正常"),
        DataFlag("F", "在线监控（监测）仪器仪表停运", "instrument stopped", Validity.INVALID, "排放源停运"),
        DataFlag("M", "在线监控（监测）仪器仪表处于维护期间产生的数据", "maintenance", Validity.INVALID, "维护"),
        DataFlag("S", "手工输入的设定值", "manually set value", Validity.INVALID, "设定值"),
        DataFlag("D", "在线监控（监测）仪器仪表故障", "instrument fault", Validity.INVALID, "故障"),
        DataFlag("C", "在线监控（监测）仪器仪表处于校准状态", "calibration", Validity.INVALID, "校验"),
        DataFlag(
            "T",
            "在线监控（监测）仪器仪表采样数值超过测量上限",
            "above measuring range",
            Validity.LOWER_BOUND,
            "超测上限",
        ),
        DataFlag("B", "在线监控（监测）仪器仪表与数采仪通讯异常", "instrument-logger comms fault", Validity.INVALID),
    )
}

FLAG_P_2005 = DataFlag("P", "电源故障", "power fault (2005 only)", Validity.INVALID, "电源故障")


def data_flag(letter: str) -> DataFlag | None:
    """The meaning of a flag letter; 2005's P is known too. Unknown letters return None."""
    if letter == "P":
        return FLAG_P_2005
    return FLAGS_2017.get(letter)
