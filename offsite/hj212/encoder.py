"""Writing packets: header in the canonical order, CP grouped, byte length and CRC computed."""

from __future__ import annotations

from offsite.hj212.cp import check_key, check_value, encode_cp
from offsite.hj212.crc import CrcVariant, crc_of, crc_text
from offsite.hj212.errors import EncodeError
from offsite.hj212.packet import Packet

CRLF = b"\r\n"


def encode_segment(packet: Packet) -> bytes:
    """The data segment ``QN=…;ST=…;CN=…;PW=…;MN=…;Flag=…;[PNUM=…;PNO=…;]CP=&&…&&`` as UTF-8."""
    items: list[tuple[str, str | int | None]] = [
        ("QN", packet.qn),
        ("ST", packet.st),
        ("CN", packet.cn),
        ("PW", packet.pw),
        ("MN", packet.mn),
        ("Flag", packet.flag),
        ("PNUM", packet.pnum),
        ("PNO", packet.pno),
        *packet.extra_header,
    ]
    parts: list[str] = []
    for key, value in items:
        if value is None:
            continue
        text = int_text(value, key) if isinstance(value, int) else value
        check_key(key)
        check_value(key, text)
        parts.append(f"{key}={text};")
    parts.append("CP=&&")
    parts.append(encode_cp(packet.cp))
    parts.append("&&")
    return "".join(parts).encode("utf-8")


def int_text(value: int, field: str | None = None) -> str:
    """``str(value)``, or an EncodeError for an integer too long to write (thousands of digits)."""
    try:
        return str(value)
    except ValueError as exc:  # Python's int-string conversion limit
        raise EncodeError(f"{field or 'a number'} has too many digits to write", field=field) from exc


def encode(
    packet: Packet,
    *,
    crc_variant: CrcVariant = CrcVariant.HJ212,
    terminator: bytes = CRLF,
) -> bytes:
    """The whole frame: ``##`` + 4-digit byte length + segment + CRC + terminator."""
    segment = encode_segment(packet)
    if len(segment) > 9999:
        raise EncodeError(
            f"data segment is {len(segment)} bytes; the 4-digit length field holds at most 9999 (split it)",
            field="length",
            value=len(segment),
        )
    checksum = crc_text(crc_of(segment, crc_variant)).encode("ascii")
    return b"##" + b"%04d" % len(segment) + segment + checksum + terminator
