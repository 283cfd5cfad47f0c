"""Putting split messages (PNUM/PNO) back together.

Pure and clock-free: the caller passes ``now`` (seconds, any monotonic origin) to ``add`` and
``expire``. Parts are matched by (MN, CN, DataTime, PNUM) — not by QN, which changes per part —
may come in any order, and duplicates are counted, not doubled. A message whose parts do not all
arrive within ``timeout`` comes out of ``expire`` as an ``Incomplete`` with what did arrive.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from offsite.hj212.cp import object_of
from offsite.hj212.decoder import factors_of
from offsite.hj212.packet import Decoded, Factor, Packet
from offsite.hj212.version import SPLIT_BIT

SplitKey = tuple[str | None, str, str | None, int]


@dataclass(frozen=True, slots=True)
class Assembled:
    """A whole message: the parts' CP joined in PNO order, PNUM/PNO and the D bit removed."""

    packet: Packet
    parts: tuple[Decoded, ...]
    data_time: datetime | None
    factors: Mapping[str, Factor]
    duplicates: int = 0


@dataclass(frozen=True, slots=True)
class Incomplete:
    """A split message that timed out: which parts came and which never did."""

    key: SplitKey
    pnum: int
    received: tuple[int, ...]
    missing: tuple[int, ...]
    parts: tuple[Decoded, ...]
    duplicates: int = 0


@dataclass(slots=True)
class _Pending:
    first_seen: float
    parts: dict[int, Decoded] = field(default_factory=dict)
    duplicates: int = 0


class Reassembler:
    """``max_pending``: messages waiting for parts at once; past it, the oldest is given up
    (it comes out of the next ``expire``), so parts that never complete hold bounded memory."""

    def __init__(self, timeout: float = 60.0, max_pending: int = 64) -> None:
        self.timeout = timeout
        self.max_pending = max_pending
        self._pending: dict[SplitKey, _Pending] = {}
        self._given_up: list[Incomplete] = []

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, decoded: Decoded, now: float) -> Assembled | None:
        """Take one part; return the whole message once its last part is in."""
        packet = decoded.packet
        if packet.pnum is None or packet.pno is None:
            raise ValueError(f"packet QN={packet.qn} CN={packet.cn} is not part of a split message")
        key: SplitKey = (packet.mn, packet.cn, packet.get("DataTime"), packet.pnum)
        pending = self._pending.get(key)
        if pending is None:
            if len(self._pending) >= self.max_pending:
                oldest = min(self._pending, key=lambda k: self._pending[k].first_seen)
                self._given_up.append(_incomplete(oldest, self._pending.pop(oldest)))
            pending = self._pending[key] = _Pending(now)
        if packet.pno in pending.parts:
            pending.duplicates += 1
        else:
            pending.parts[packet.pno] = decoded
        if len(pending.parts) < packet.pnum:
            return None
        del self._pending[key]
        return _assemble(pending)

    def expire(self, now: float) -> list[Incomplete]:
        """Give up on messages older than the timeout (and on those pushed out by newer ones)."""
        out, self._given_up = self._given_up, []
        for key, pending in list(self._pending.items()):
            if now - pending.first_seen >= self.timeout:
                del self._pending[key]
                out.append(_incomplete(key, pending))
        return out


def _incomplete(key: SplitKey, pending: _Pending) -> Incomplete:
    received = tuple(sorted(pending.parts))
    return Incomplete(
        key=key,
        pnum=key[3],
        received=received,
        missing=tuple(n for n in range(1, key[3] + 1) if n not in pending.parts),
        parts=tuple(pending.parts[n] for n in received),
        duplicates=pending.duplicates,
    )


def ranges(numbers: tuple[int, ...], most: int = 10) -> str:
    """``1-3,7,9-9999`` for people and logs: a message of 9,999 parts is one line, not 50 kB."""
    runs: list[tuple[int, int]] = []
    for n in numbers:
        if runs and n == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], n)
        else:
            runs.append((n, n))
    shown = ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs[:most])
    return shown + (f",… ({len(runs) - most} more runs)" if len(runs) > most else "")


def _assemble(pending: _Pending) -> Assembled:
    parts = tuple(pending.parts[n] for n in sorted(pending.parts))
    first = parts[0].packet
    cp = list(first.cp)
    seen_plain = {(k, v) for k, v in first.cp if object_of(k) == k}
    for part in parts[1:]:
        # Each part repeats DataTime and the like; keep them once, keep every factor item.
        cp.extend((k, v) for k, v in part.packet.cp if (k, v) not in seen_plain)
    flag = first.flag & ~SPLIT_BIT if first.flag is not None else None
    packet = replace(first, flag=flag, pnum=None, pno=None, cp=tuple(cp))
    return Assembled(packet, parts, parts[0].data_time, factors_of(packet.cp), pending.duplicates)
