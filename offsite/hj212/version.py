"""Protocol versions and the Flag field's bits (V5..V0 D A)."""

from __future__ import annotations

from enum import StrEnum

from offsite.hj212 import spec2025
from offsite.hj212.errors import UnknownVersion

ACK_BIT = 0x01
"""A: the sender wants an answer (9011/9013/9014 by command type)."""

SPLIT_BIT = 0x02
"""D: the packet is one part of a split message and carries PNUM/PNO."""


class Version(StrEnum):
    V2005 = "2005"
    V2017 = "2017"
    V2025 = "2025"

    @property
    def bits(self) -> int:
        """The version bits V5..V0 this version writes into Flag."""
        return _BITS[self]


_BITS = {Version.V2005: 0, Version.V2017: 1, Version.V2025: spec2025.FLAG_VERSION_BITS}
_BY_BITS = {bits: version for version, bits in _BITS.items()}


def version_of_flag(flag: int | None) -> Version:
    """The protocol version a Flag value declares; no Flag at all is 2005 style."""
    if flag is None:
        return Version.V2005
    version = _BY_BITS.get(flag >> 2)
    if version is None:
        raise UnknownVersion(
            f"Flag={flag} declares version bits {flag >> 2:06b}, which no known version uses",
            field="Flag",
            value=flag,
        )
    return version


def make_flag(version: Version, *, ack: bool = False, split: bool = False) -> int:
    return (version.bits << 2) | (SPLIT_BIT if split else 0) | (ACK_BIT if ack else 0)
