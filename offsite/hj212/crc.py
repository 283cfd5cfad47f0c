"""The HJ 212 CRC (2017 Appendix A) and the legacy MODBUS variants some loggers send.

The HJ 212 CRC is *not* CRC-16/MODBUS: each byte is folded in as ``crc = (crc >> 8) ^ byte``
before eight shift/XOR rounds with 0xA001, so only the register's high byte carries from one
byte to the next. Check value of ``b"123456789"``: 0x2F80 (MODBUS gives 0x4B37).

Speed: that carried byte goes through a linear map H over GF(2)^8 whose order is 8
(H^8 = identity, checked at import). So the byte at distance d from the end of the message
contributes H^(d mod 8)(byte), and the whole message reduces to the XOR of its bytes in eight
lanes (one lane per d mod 8), which Python's big integers compute in C without a per-byte loop.
That makes the CRC ~100x faster than the standard's bit loop (see benchmarks/hj212_decode.py).
"""

from __future__ import annotations

from enum import StrEnum


class CrcVariant(StrEnum):
    """Which checksum a frame was found to carry."""

    HJ212 = "hj212"
    MODBUS = "modbus"
    MODBUS_SWAPPED = "modbus-swapped"


def _rounds(register: int) -> int:
    for _ in range(8):
        lsb = register & 1
        register >>= 1
        if lsb:
            register ^= 0xA001
    return register


# _STEP[x]: the 16-bit register after folding in a byte when (high byte ^ byte) == x.
_STEP: tuple[int, ...] = tuple(_rounds(x) for x in range(256))
_H: tuple[int, ...] = tuple(v >> 8 for v in _STEP)


def _power_tables() -> tuple[tuple[int, ...], ...]:
    tables = [tuple(range(256))]
    for _ in range(7):
        tables.append(tuple(_H[v] for v in tables[-1]))
    if tuple(_H[v] for v in tables[-1]) != tables[0]:  # pragma: no cover - a property of 0xA001
        raise AssertionError("HJ 212 CRC carry map does not have order 8")
    return tuple(tables)


_LANE = _power_tables()  # _LANE[r][b] == H^r(b)
_INIT = tuple(_LANE[r][0xFF] for r in range(8))  # the initial 0xFFFF's high byte, carried r times
_FOLD_MASKS = {bits: (1 << bits) - 1 for bits in (64 << k for k in range(20))}


def hj212_crc(data: bytes) -> int:
    """Return the HJ 212 CRC of ``data`` (the data segment's bytes) as an integer."""
    n = len(data)
    if n == 0:
        return 0xFFFF
    folded = int.from_bytes(data, "big")
    chunks = (n + 7) >> 3
    while chunks > 1:
        low = chunks >> 1
        bits = low << 6
        folded = (folded >> bits) ^ (folded & _FOLD_MASKS.get(bits, (1 << bits) - 1))
        chunks -= low
    y = _INIT[(n - 1) & 7]
    for r in range(8):
        y ^= _LANE[r][(folded >> (r << 3)) & 0xFF]
    return _STEP[y]


def hj212_crc_reference(data: bytes) -> int:
    """The standard's own bit-by-bit algorithm, kept as the oracle for tests and benchmarks."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ byte
        for _ in range(8):
            lsb = crc & 1
            crc >>= 1
            if lsb:
                crc ^= 0xA001
    return crc


_MODBUS_TABLE: tuple[int, ...] = tuple(_rounds(x) for x in range(256))


def modbus_crc(data: bytes) -> int:
    """CRC-16/MODBUS as the register value (what some 2005-era loggers print)."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _MODBUS_TABLE[(crc ^ byte) & 0xFF]
    return crc


def crc_of(data: bytes, variant: CrcVariant) -> int:
    """The checksum of ``data`` under ``variant``."""
    if variant is CrcVariant.HJ212:
        return hj212_crc(data)
    value = modbus_crc(data)
    if variant is CrcVariant.MODBUS_SWAPPED:
        return ((value & 0xFF) << 8) | (value >> 8)
    return value


def crc_text(value: int) -> str:
    """The four upper-case hex digits a packet carries."""
    return f"{value:04X}"
