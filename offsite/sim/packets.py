"""From series to HJ 212 packets: real-time, minute, hour and day uploads with Min/Avg/Max/Cou/Flag.

``Cou`` is the interval's emission: concentration × flow × time (kg; for flow itself, the
volume in m³), as loggers report it.
"""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np

from offsite.hj212.packet import Packet
from offsite.hj212.uploads import upload
from offsite.hj212.version import Version
from offsite.sim.signals import FLOW

CN_OF = {"minute": "2051", "hour": "2061", "day": "2031"}
NOT_EMITTED = frozenset({"a19001", "a01012", "a01014", "a01013", "w01001"})
"""O2, temperature, humidity, pressure and pH have no emitted amount."""
O2 = "a19001"
O2_GUARD = 19.5
"""A logger sends no corrected value at or above this O2 (%): 21 − O2 is too small to divide by."""


def interval_packet(
    *,
    mn: str,
    pw: str,
    st: str,
    medium: str,
    period: str,
    start: datetime,
    values: dict[str, np.ndarray],
    flags: dict[str, str] | None = None,
    qn: str | None,
    version: Version = Version.V2017,
    o2_ref: float | None = None,
) -> Packet:
    """One minute/hour/day upload from that interval's per-minute values. With ``o2_ref`` (the
    outlet's reference O2) a flue-gas pollutant also carries its corrected mean ``ZsAvg`` (折算),
    as CEMS loggers send it, where the interval has O2 below the guard."""
    flow_code = FLOW[medium]
    # Python floats: an interval holds at most 1,440 minutes, where NumPy's per-call cost dominates
    flow = values[flow_code].tolist() if flow_code in values else None
    seconds = 60.0
    correction = _correction(values, medium, o2_ref)
    factors: dict[str, dict[str, str | float]] = {}
    for code, minute_values in values.items():
        readings = minute_values.tolist()
        fields: dict[str, str | float] = {
            "Min": min(readings),
            "Avg": round(math.fsum(readings) / len(readings), 3),
            "Max": max(readings),
        }
        if code == flow_code:
            fields["Cou"] = round(math.fsum(readings) * seconds * (1.0 if medium == "gas" else 1e-3), 2)  # m³
        elif flow is not None and code not in NOT_EMITTED:
            # mg/m³ × m³/s × s (gas) or mg/L × L/s × s (water) gives mg; 1e-6 makes kg
            fields["Cou"] = round(math.fsum(c * q for c, q in zip(readings, flow, strict=True)) * seconds * 1e-6, 4)
        if correction is not None and code.startswith(("a2", "a3")):
            # a2xxxx gases and a3xxxx particulates are corrected; a0/a1 codes are the flue's parameters
            fields["ZsAvg"] = round(float(fields["Avg"]) * correction, 3)
        fields["Flag"] = (flags or {}).get(code, "N")
        factors[code] = fields
    return upload(cn=CN_OF[period], mn=mn, pw=pw, st=st, qn=qn, data_time=start, factors=factors, version=version)


def _correction(values: dict[str, np.ndarray], medium: str, o2_ref: float | None) -> float | None:
    """(21 − O2ref) / (21 − O2) over the interval's mean O2; none where the logger cannot correct."""
    if o2_ref is None or medium != "gas" or O2 not in values:
        return None
    o2 = float(values[O2].mean())
    return (21 - o2_ref) / (21 - o2) if o2 < O2_GUARD else None


def realtime_packet(
    *,
    mn: str,
    pw: str,
    st: str,
    at: datetime,
    values: dict[str, float],
    qn: str | None,
    version: Version = Version.V2017,
) -> Packet:
    factors: dict[str, dict[str, str | float]] = {code: {"Rtd": value, "Flag": "N"} for code, value in values.items()}
    return upload(cn="2011", mn=mn, pw=pw, st=st, qn=qn, data_time=at, factors=factors, version=version)


def window(values: dict[str, np.ndarray], first: int, count: int) -> dict[str, np.ndarray]:
    return {code: series[first : first + count] for code, series in values.items()}


def window_flags(flags: dict[str, np.ndarray], first: int, count: int, sent: np.ndarray) -> dict[str, str]:
    """An interval's flag per factor from its minutes' flags: N if at least 75 % of the minutes
    sent are N (HJ 212-2017 Appendix C, flue gas), else the most common other flag."""
    out = {}
    for code, minute_flags in flags.items():
        chosen = minute_flags[first : first + count][sent]
        if chosen.size == 0 or (chosen == "N").mean() >= 0.75:
            out[code] = "N"
        else:
            others, counts = np.unique(chosen[chosen != "N"], return_counts=True)
            out[code] = str(others[counts.argmax()])
    return out
