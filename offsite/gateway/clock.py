"""Device clocks: how far off a device's clock is, judged only where the time is the device's now.

Minute, hour and day DataTimes are interval starts and backfilled packets are old by design, so
drift is judged only on a real-time upload's DataTime (2011), a 1011 reply's SystemTime, and
the QN of live packets (real-time uploads and heartbeats), and never while a backfill is running.
"""

from __future__ import annotations

from datetime import datetime

from offsite.hj212.errors import BadTime
from offsite.hj212.packet import Decoded
from offsite.hj212.times import parse_time

LIVE = frozenset({"2011", "9015", "9021"})


def drift(decoded: Decoded, received_at: datetime) -> float | None:
    """Device time minus receive time, in seconds, or None where the packet says nothing reliable."""
    packet = decoded.packet
    moment: datetime | None = None
    if packet.cn == "2011" and decoded.data_time is not None:
        moment = decoded.data_time
    elif packet.cn == "1011" and packet.get("SystemTime"):
        moment = _time(packet.get("SystemTime"))
    elif packet.cn in LIVE and packet.qn:
        moment = _time(packet.qn)
    return None if moment is None else (moment - received_at).total_seconds()


def _time(text: str | None) -> datetime | None:
    try:
        return parse_time(text or "", "time")
    except BadTime:
        return None
