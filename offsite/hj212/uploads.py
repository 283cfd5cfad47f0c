"""What devices send: data uploads, heartbeats and split messages (the simulator's side)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from offsite.hj212 import spec2025
from offsite.hj212.cp import object_of
from offsite.hj212.encoder import encode_segment, int_text
from offsite.hj212.errors import EncodeError
from offsite.hj212.packet import Packet
from offsite.hj212.times import format_time
from offsite.hj212.version import SPLIT_BIT, Version, make_flag

FieldValue = str | float | int


def format_number(value: FieldValue) -> str:
    """Numbers as plain decimals (never exponents): the shortest text that reads back the same."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise EncodeError(f"{value!r} is not a number", value=value)
    if isinstance(value, int):
        return int_text(value)
    text = repr(value)
    if "e" in text or "n" in text:  # exponents, inf and nan need the slow path
        return format(Decimal(text), "f")
    return text


def upload(
    *,
    cn: str,
    mn: str,
    pw: str,
    st: str,
    qn: str | None,
    data_time: datetime | None,
    factors: Mapping[str, Mapping[str, FieldValue]],
    version: Version = Version.V2017,
    ack: bool = True,
    extra_cp: tuple[tuple[str, str], ...] = (),
) -> Packet:
    """A data upload: ``DataTime`` first, then each factor's fields in the order given."""
    cp: list[tuple[str, str]] = []
    if data_time is not None:
        cp.append(("DataTime", format_time(data_time)))
    cp.extend(extra_cp)
    for code, fields in factors.items():
        for suffix, value in fields.items():
            cp.append((f"{code}-{suffix}", format_number(value)))
    flag = make_flag(version, ack=ack) if version is not Version.V2005 or ack else None
    return Packet(cn=cn, st=st, qn=qn, pw=pw, mn=mn, flag=flag, cp=tuple(cp))


def heartbeat(*, mn: str, pw: str, st: str, qn: str, ack: bool = True) -> Packet:
    """The 2025 heartbeat (see spec2025 for how sure we are of its shape)."""
    return Packet(
        cn=spec2025.HEARTBEAT_CN,
        st=st,
        qn=qn,
        pw=pw,
        mn=mn,
        flag=make_flag(Version.V2025, ack=ack),
    )


def split(packet: Packet, max_length: int = 1024) -> list[Packet]:
    """Split an upload whose segment is longer than ``max_length`` into PNUM/PNO parts.

    Every part repeats the non-factor items (DataTime …) and carries whole factors; part i's QN
    is the packet's QN plus i, as in the standard's example. A packet that fits is returned as is.
    """
    if len(encode_segment(packet)) <= max_length:
        return [packet]
    common = tuple((k, v) for k, v in packet.cp if object_of(k) == k)
    flag = (packet.flag or 0) | SPLIT_BIT
    template = replace(packet, flag=flag, pnum=9999, pno=9999)

    def fits(items: list[tuple[str, str]]) -> bool:
        return len(encode_segment(replace(template, cp=common + tuple(items)))) <= max_length

    chunks: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    for group in _factor_groups(packet.cp):
        if current and not fits(current + group):
            chunks.append(current)
            current = []
        if not fits(current + group):
            raise EncodeError(f"factor {group[0][0]} alone does not fit in {max_length} bytes", field=group[0][0])
        current += group
    chunks.append(current)
    return [
        replace(template, qn=_nth_qn(packet.qn, number - 1), pnum=len(chunks), pno=number, cp=common + tuple(chunk))
        for number, chunk in enumerate(chunks, start=1)
    ]


def _factor_groups(cp: tuple[tuple[str, str], ...]) -> list[list[tuple[str, str]]]:
    """Consecutive ``code-Suffix`` items of the same code, in order."""
    groups: list[list[tuple[str, str]]] = []
    previous: str | None = None
    for key, value in cp:
        code = object_of(key)
        if code == key:
            continue
        if groups and code == previous:
            groups[-1].append((key, value))
        else:
            groups.append([(key, value)])
        previous = code
    return groups


def _nth_qn(qn: str | None, offset: int) -> str | None:
    if qn is None or offset == 0 or not qn.isdigit() or not qn.isascii():
        return qn
    return _plus(qn, offset)


def _plus(digits: str, offset: int) -> str:
    """``str(int(digits) + offset).zfill(len(digits))`` without int() of the whole string.

    A QN of thousands of digits would exceed Python's int-string conversion limit; adding
    18 digits at a time touches only the digits the carry reaches.
    """
    tail: list[str] = []
    end, carry = len(digits), offset
    while carry and end > 0:
        begin = max(end - 18, 0)
        carry, rest = divmod(int(digits[begin:end]) + carry, 10 ** (end - begin))
        tail.append(str(rest).zfill(end - begin))
        end = begin
    return (str(carry) if carry else "") + digits[:end] + "".join(reversed(tail))
