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
    def __init__(self, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self._pending: dict[SplitKey, _Pending] = {}

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
        """Give up on messages older than the timeout."""
        out = []
        for key, pending in list(self._pending.items()):
            if now - pending.first_seen >= self.timeout:
                del self._pending[key]
                received = tuple(sorted(pending.parts))
                out.append(
                    Incomplete(
                        key=key,
                        pnum=key[3],
                        received=received,
                        missing=tuple(n for n in range(1, key[3] + 1) if n not in pending.parts),
                        parts=tuple(pending.parts[n] for n in received),
                        duplicates=pending.duplicates,
                    )
                )
        return out


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
