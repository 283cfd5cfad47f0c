"""Requests the platform sends to a device: time, intervals, history (backfill), site info.

Each builder is pure: the caller gives the QN (``times.make_qn(now)``) so that it can match the
device's 9011/9012 to the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from offsite.hj212.errors import EncodeError
from offsite.hj212.packet import Packet
from offsite.hj212.times import format_time
from offsite.hj212.version import Version, make_flag

HISTORY_COMMANDS = frozenset({"2031", "2041", "2051", "2061"})
"""Day data, daily run time, minute data, hour data: answered with stored records."""


@dataclass(frozen=True, slots=True)
class Target:
    """The device a request addresses, as the registry knows it."""

    mn: str
    pw: str
    st: str
    version: Version = Version.V2017


def request(target: Target, cn: str, qn: str, cp: tuple[tuple[str, str], ...] = ()) -> Packet:
    """A request asking for a 9011 answer (A=1)."""
    return Packet(
        cn=cn,
        st=target.st,
        qn=qn,
        pw=target.pw,
        mn=target.mn,
        flag=make_flag(target.version, ack=True),
        cp=cp,
    )


def get_time(target: Target, qn: str, pol_id: str | None = None) -> Packet:
    """1011: read the logger's clock (or, with PolId, one instrument's)."""
    return request(target, "1011", qn, _pol(pol_id))


def set_time(target: Target, qn: str, system_time: datetime, pol_id: str | None = None) -> Packet:
    """1012: set the logger's clock to ``system_time`` (sent as CST digits)."""
    return request(target, "1012", qn, (*_pol(pol_id), ("SystemTime", format_time(system_time))))


def history(target: Target, qn: str, cn: str, begin: datetime, end: datetime) -> Packet:
    """2031/2041/2051/2061 with BeginTime/EndTime: ask the logger to resend stored records."""
    if cn not in HISTORY_COMMANDS:
        raise EncodeError(
            f"CN={cn} is not a history command ({', '.join(sorted(HISTORY_COMMANDS))})", field="CN", value=cn
        )
    if end < begin:
        raise EncodeError(f"EndTime {end} is before BeginTime {begin}", field="EndTime", value=end)
    return request(target, cn, qn, (("BeginTime", format_time(begin)), ("EndTime", format_time(end))))


def get_info(
    target: Target,
    qn: str,
    pol_id: str,
    info_id: str,
    *,
    begin: datetime | None = None,
    end: datetime | None = None,
) -> Packet:
    """3020: read site information (logs with a time window; states and parameters without)."""
    cp: tuple[tuple[str, str], ...] = (("PolId", pol_id), ("InfoId", info_id))
    if begin is not None and end is not None:
        cp += (("BeginTime", format_time(begin)), ("EndTime", format_time(end)))
    return request(target, "3020", qn, cp)


def set_timeout(target: Target, qn: str, over_time: int, re_count: int) -> Packet:
    """1000: the device's reply timeout (1–99 s) and retry count (1–99)."""
    for name, value in (("OverTime", over_time), ("ReCount", re_count)):
        if not 1 <= value <= 99:
            raise EncodeError(f"{name}={value} is outside 1–99", field=name, value=value)
    return request(target, "1000", qn, (("OverTime", str(over_time)), ("ReCount", str(re_count))))


def set_realtime_interval(target: Target, qn: str, seconds: int) -> Packet:
    """1062: real-time upload interval, 30–3600 s."""
    if not 30 <= seconds <= 3600:
        raise EncodeError(f"RtdInterval={seconds} is outside 30–3600 s", field="RtdInterval", value=seconds)
    return request(target, "1062", qn, (("RtdInterval", str(seconds)),))


MINUTE_INTERVALS = frozenset({1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30})


def set_minute_interval(target: Target, qn: str, minutes: int) -> Packet:
    """1064: minute-data interval; only divisors of 60 up to 30 are allowed."""
    if minutes not in MINUTE_INTERVALS:
        raise EncodeError(
            f"MinInterval={minutes} is not one of {sorted(MINUTE_INTERVALS)}", field="MinInterval", value=minutes
        )
    return request(target, "1064", qn, (("MinInterval", str(minutes)),))


def start_realtime(target: Target, qn: str) -> Packet:
    return request(target, "2011", qn)


def stop_realtime(target: Target, qn: str) -> Packet:
    """2012 is a notice: the device answers 9013."""
    return request(target, "2012", qn)


def start_states(target: Target, qn: str) -> Packet:
    return request(target, "2021", qn)


def stop_states(target: Target, qn: str) -> Packet:
    return request(target, "2022", qn)


def _pol(pol_id: str | None) -> tuple[tuple[str, str], ...]:
    return (("PolId", pol_id),) if pol_id else ()
