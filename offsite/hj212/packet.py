"""The packet as it travels: header fields and CP pairs, exactly as text.

``Packet`` is what the encoder writes and the decoder reads; ``Decoded`` adds what the decoder
learnt about one received frame (its CRC, the interpreted time and factor values).

``Packet`` is frozen. The decoder's per-frame results (``Decoded``, ``Factor``, ``CrcCheck``) are
plain slotted dataclasses, to be treated as read-only: a frozen dataclass costs three times as
much to build, and the decoder builds about ten of them per packet (benchmarks/hj212_decode.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from offsite.hj212.cp import Pairs
from offsite.hj212.crc import CrcVariant
from offsite.hj212.frame import Frame
from offsite.hj212.version import ACK_BIT, SPLIT_BIT, Version, version_of_flag


@dataclass(frozen=True, slots=True)
class Packet:
    """One HJ 212 data segment. Absent header fields are ``None``; CP keeps every pair in order."""

    cn: str
    st: str | None = None
    qn: str | None = None
    pw: str | None = None
    mn: str | None = None
    flag: int | None = None
    pnum: int | None = None
    pno: int | None = None
    cp: Pairs = ()
    extra_header: Pairs = ()
    """Header keys the standard does not define, kept in order."""

    @property
    def version(self) -> Version:
        return version_of_flag(self.flag)

    @property
    def ack_requested(self) -> bool:
        return self.flag is not None and bool(self.flag & ACK_BIT)

    @property
    def is_split(self) -> bool:
        """Whether this is one part of a split message (PNUM/PNO present)."""
        return self.pnum is not None and self.pno is not None

    @property
    def split_bit(self) -> bool:
        return self.flag is not None and bool(self.flag & SPLIT_BIT)

    def get(self, key: str) -> str | None:
        """The text of the first CP item named ``key``."""
        for k, v in self.cp:
            if k == key:
                return v
        return None


@dataclass(slots=True)
class Factor:
    """One monitored object's items from CP: ``a21026-Avg=12.30,a21026-Flag=N``.

    ``fields`` keeps each value's exact text; ``numbers`` holds the float of every field
    that is a number (flags, sample times, ids and free text stay text only).
    """

    code: str
    """The HJ 212-2017 code (2005 codes are mapped); an unknown code as sent."""
    fields: Mapping[str, str]
    numbers: Mapping[str, float]
    code_2005: str | None = None

    @property
    def flag(self) -> str | None:
        return self.fields.get("Flag")

    def value(self, suffix: str) -> float | None:
        return self.numbers.get(suffix)


@dataclass(slots=True)
class CrcCheck:
    declared: str
    """As sent, upper-cased."""
    computed: str
    """The checksum of the variant that matched."""
    variant: CrcVariant


@dataclass(slots=True)
class Decoded:
    """A received frame that passed every check, with its interpretation."""

    packet: Packet
    frame: Frame
    crc: CrcCheck
    data_time: datetime | None
    factors: Mapping[str, Factor] = field(default_factory=dict)
