"""Gaps in a device's minute and hour data, to be asked for again (补发).

Per device and period the tracker keeps the latest interval start seen and the spacing the
device uses: one hour for hour data; for minute data the smallest step seen (a logger's minute
interval may be 1–30 minutes), learnt over two steps before any gap is reported. A packet that
starts more than one spacing after the latest leaves a gap; older packets (backfilled, resent)
only fill in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

HOUR = timedelta(hours=1)
_LONGEST_MINUTE = timedelta(minutes=30)


@dataclass(slots=True)
class _Seen:
    last: datetime
    spacing: timedelta | None
    steps: int = 0


class GapTracker:
    def __init__(self, max_span: timedelta) -> None:
        self.max_span = max_span
        self._seen: dict[tuple[int, str], _Seen] = {}

    def observe(self, device_id: int, cn: str, start: datetime) -> tuple[datetime, datetime] | None:
        """Take a 2051/2061 DataTime; return the (first, last) missing interval starts, if any."""
        if cn not in ("2051", "2061"):
            return None
        key = (device_id, cn)
        seen = self._seen.get(key)
        if seen is None:
            self._seen[key] = _Seen(start, HOUR if cn == "2061" else None)
            return None
        step = start - seen.last
        if step <= timedelta(0):
            return None  # a backfilled or resent interval fills in; nothing to ask for
        seen.last = start
        seen.steps += 1
        if cn == "2051" and step <= _LONGEST_MINUTE and (seen.spacing is None or step < seen.spacing):
            seen.spacing = step
        if seen.spacing is None or (cn == "2051" and seen.steps < 2) or step <= seen.spacing:
            return None
        first = max(start - step + seen.spacing, start - self.max_span)
        return first, start - seen.spacing
