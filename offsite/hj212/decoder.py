"""Turning bytes into checked, interpreted packets.

``Decoder`` is the streaming entry point (the gateway feeds it what each socket read returns);
``decode`` reads exactly one packet. Everything a frame can fail on raises or reports an
``HJ212Error`` subclass with a stable code; nothing else escapes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from offsite.hj212.codes.factors import CODE_2005_TO_2017
from offsite.hj212.cp import Pairs, parse_cp
from offsite.hj212.crc import CrcVariant, crc_of, crc_text, hj212_crc
from offsite.hj212.errors import (
    BadCp,
    BadEncoding,
    BadHeaderField,
    CrcMismatch,
    HJ212Error,
    NoHeader,
)
from offsite.hj212.frame import Frame, FrameFault, FrameScanner, FramingOptions
from offsite.hj212.packet import CrcCheck, Decoded, Factor, Packet
from offsite.hj212.times import parse_time
from offsite.hj212.version import version_of_flag

_scan_cp: Callable[[bytes], tuple[Pairs, list[tuple[str, dict[str, str], dict[str, float]]]] | None] | None
try:
    from offsite.hj212._speedups import scan_cp as _scan_cp
except ImportError:  # installed without a C compiler: the Python path does the same work, slower
    _scan_cp = None

ACCELERATED = _scan_cp is not None
"""Whether the C accelerator of the CP scan is in use."""

TEXT_SUFFIXES = frozenset({"Flag", "EFlag", "SampleTime", "SN"})
"""Per-factor fields that stay text even when they look numeric (flags, times, ids); _speedups.c lists them too."""

_HEADER_KEYS = frozenset({"QN", "ST", "CN", "PW", "MN", "Flag", "PNUM", "PNO"})


@dataclass(frozen=True, slots=True)
class DecodeOptions:
    framing: FramingOptions = field(default_factory=FramingOptions)
    crc_variants: tuple[CrcVariant, ...] = (CrcVariant.HJ212,)
    """Checksums accepted, tried in order. Legacy MODBUS variants are per device and off by default."""


class Decoder:
    """Streaming decoder: ``feed`` bytes as they arrive, ``close`` at end of stream."""

    def __init__(self, options: DecodeOptions | None = None) -> None:
        self.options = options or DecodeOptions()
        self._scanner = FrameScanner(self.options.framing)

    @property
    def pending(self) -> int:
        return self._scanner.pending

    def feed(self, data: bytes) -> list[Decoded | FrameFault]:
        return [self._finish(item) for item in self._scanner.feed(data)]

    def flush(self) -> list[Decoded | FrameFault]:
        """See ``FrameScanner.flush``: release a frame whose sender sends no terminator."""
        return [self._finish(item) for item in self._scanner.flush()]

    def close(self) -> list[Decoded | FrameFault]:
        return [self._finish(item) for item in self._scanner.close()]

    def _finish(self, item: Frame | FrameFault) -> Decoded | FrameFault:
        if isinstance(item, FrameFault):
            return item
        try:
            return decode_frame(item, self.options)
        except HJ212Error as error:
            return FrameFault(error, item.raw, item.offset)


def decode_stream(data: bytes, options: DecodeOptions | None = None) -> list[Decoded | FrameFault]:
    """Every packet and fault in a complete byte string, in order."""
    decoder = Decoder(options)
    return decoder.feed(data) + decoder.close()


def decode(data: bytes, options: DecodeOptions | None = None) -> Decoded:
    """Decode exactly one packet; raise its error if it is bad, or if other bytes come with it."""
    items = decode_stream(data, options)
    if not items:
        raise NoHeader("no '##' frame in the input", value=len(data))
    for item in items:
        if isinstance(item, FrameFault):
            raise item.error
    if len(items) > 1:
        raise NoHeader(f"expected one packet, found {len(items)}", value=len(items))
    first = items[0]
    assert isinstance(first, Decoded)
    return first


def decode_frame(frame: Frame, options: DecodeOptions | None = None) -> Decoded:
    """Check a frame's CRC, parse its segment and interpret its time and factor values."""
    opts = options or DecodeOptions()
    crc = check_crc(frame.segment, frame.crc_text, opts.crc_variants)
    packet, factors = _parse(frame.segment, strict=opts.framing.strict)
    data_time_text = packet.get("DataTime")
    data_time = parse_time(data_time_text) if data_time_text is not None else None
    return Decoded(packet, frame, crc, data_time, factors)


def peek_header(segment: bytes) -> dict[str, str]:
    """The header fields of a segment, read without any check.

    For choosing per-device options before decoding: a frame that fails the HJ 212 CRC is
    looked up by its MN, and decoded again with the CRC variants that device is allowed.
    """
    cp_at = segment.find(b"CP=&&")
    head = segment[: cp_at if cp_at >= 0 else len(segment)].decode("utf-8", errors="replace")
    fields: dict[str, str] = {}
    for item in head.split(";"):
        key, eq, value = item.partition("=")
        if eq and key in _HEADER_KEYS:
            fields.setdefault(key, value)
    return fields


def check_crc(segment: bytes, declared_text: str, variants: tuple[CrcVariant, ...]) -> CrcCheck:
    declared = declared_text.upper()
    declared_value = int(declared, 16)
    for variant in variants:
        value = hj212_crc(segment) if variant is CrcVariant.HJ212 else crc_of(segment, variant)
        if value == declared_value:
            return CrcCheck(declared, declared, variant)
    expected = crc_text(hj212_crc(segment))
    raise CrcMismatch(
        f"CRC {declared} does not match the data segment: HJ 212 CRC is {expected}"
        + (
            f" (also tried {', '.join(v.value for v in variants if v is not CrcVariant.HJ212)})"
            if len(variants) > 1
            else ""
        ),
        declared=declared,
        computed=expected,
    )


def parse_segment(segment: bytes, *, strict: bool = False) -> Packet:
    """Read a data segment (``QN=…;…;CP=&&…&&``) into a Packet; header keys in any order."""
    return _parse(segment, strict=strict)[0]


def _parse(segment: bytes, *, strict: bool) -> tuple[Packet, dict[str, Factor]]:
    cp_at = segment.find(b"CP=&&")
    if cp_at < 0:
        raise BadCp("data segment has no 'CP=&&'", field="CP", value=_text_of(segment[:60]))
    body = segment[cp_at + 5 :]
    if body.endswith(b"&&"):
        body = body[:-2]
    elif strict:
        raise BadCp("CP is not closed with '&&'", field="CP", value=_text_of(body[-20:]))
    header: dict[str, str] = {}
    extra: list[tuple[str, str]] = []
    for item in _text_of(segment[:cp_at]).split(";"):
        if not item:
            continue
        key, eq, value = item.partition("=")
        if not eq:
            raise BadHeaderField(f"header item {item!r} is not key=value", field=item, value=item)
        if key in _HEADER_KEYS:
            if key in header:
                raise BadHeaderField(f"header field {key} appears twice", field=key, value=value)
            header[key] = value
        else:
            extra.append((key, value))
    cn = header.get("CN")
    if cn is None:
        raise BadHeaderField("header has no CN (command code)", field="CN")
    if len(cn) != 4 or not cn.isdigit() or not cn.isascii():
        raise BadHeaderField(f"CN={cn!r} is not a 4-digit command code", field="CN", value=cn)
    flag = _small_int(header, "Flag", 0, 255)
    version_of_flag(flag)
    pnum = _small_int(header, "PNUM", 1, 9999)
    pno = _small_int(header, "PNO", 1, 9999)
    if (pnum is None) != (pno is None):
        present = "PNUM" if pnum is not None else "PNO"
        raise BadHeaderField(f"{present} is present without its partner", field=present)
    if pnum is not None and pno is not None and pno > pnum:
        raise BadHeaderField(f"PNO={pno} is beyond PNUM={pnum}", field="PNO", value=pno)
    cp, factors = read_cp(body)
    packet = Packet(
        cn=cn,
        st=header.get("ST"),
        qn=header.get("QN"),
        pw=header.get("PW"),
        mn=header.get("MN"),
        flag=flag,
        pnum=pnum,
        pno=pno,
        cp=cp,
        extra_header=tuple(extra),
    )
    return packet, factors


def read_cp(body: bytes, *, accelerated: bool = True) -> tuple[Pairs, dict[str, Factor]]:
    """CP pairs and factors from the bytes between ``CP=&&`` and ``&&``.

    The C accelerator does the plain case; anything unusual (an item without ``=``, empty
    items, a ``=`` inside a value, numbers Python reads but C does not) comes back as None and
    takes the Python path, which gives the same result and raises the precise error.
    """
    scanned = _scan_cp(body) if accelerated and _scan_cp is not None else None
    if scanned is None:
        cp = parse_cp(_text_of(body))
        return cp, factors_of(cp)
    pairs, groups = scanned
    if _CODES_2005.isdisjoint([group[0] for group in groups]):
        return pairs, {code: Factor(code, texts, numbers) for code, texts, numbers in groups}
    names = _named([group[0] for group in groups])
    return pairs, {
        name: Factor(name, texts, numbers, code_2005)
        for (_, name, code_2005), (_, texts, numbers) in zip(names, groups, strict=True)
    }


_CODES_2005 = frozenset(CODE_2005_TO_2017)


def _named(codes: list[str]) -> list[tuple[str, str, str | None]]:
    """(code as sent, name in the result, 2005 code or None): 2005 codes become 2017 codes."""
    taken = set(codes)
    out: list[tuple[str, str, str | None]] = []
    for code in codes:
        new_code = CODE_2005_TO_2017.get(code)
        if new_code is not None and new_code not in taken:
            taken.add(new_code)
            out.append((code, new_code, code))
        else:
            out.append((code, code, None))
    return out


def factors_of(cp: Pairs) -> dict[str, Factor]:
    """Group ``code-Suffix`` items by object; 2005 codes become their 2017 codes.

    A duplicate suffix keeps its first value here; every pair stays in ``Packet.cp``.
    """
    groups: dict[str, dict[str, str]] = {}
    for key, value in cp:
        code, dash, suffix = key.rpartition("-")
        if dash and code:
            groups.setdefault(code, {}).setdefault(suffix, value)
    return {
        name: Factor(name, groups[code], _numbers_of(groups[code]), code_2005)
        for code, name, code_2005 in _named(list(groups))
    }


def _numbers_of(texts: dict[str, str]) -> dict[str, float]:
    numbers = {}
    for suffix, text in texts.items():
        if suffix not in TEXT_SUFFIXES:
            number = _number(text)
            if number is not None:
                numbers[suffix] = number
    return numbers


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    if not math.isfinite(value) or "_" in text:
        return None
    return value


def _small_int(header: dict[str, str], key: str, low: int, high: int) -> int | None:
    text = header.get(key)
    if text is None:
        return None
    # Count the digits before converting: int() refuses strings of thousands of digits with a
    # plain ValueError (Python's conversion limit), and a device may send them.
    significant = text.lstrip("0")
    if (
        not text.isdigit()
        or not text.isascii()
        or len(significant) > len(str(high))
        or not low <= int(significant or "0") <= high
    ):
        shown = repr(text) if len(text) <= 40 else f"{text[:20]!r}… ({len(text)} characters)"
        raise BadHeaderField(f"{key}={shown} is not an integer from {low} to {high}", field=key, value=text)
    return int(significant or "0")


def _text_of(segment: bytes) -> str:
    try:
        return segment.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        # Some older loggers write Chinese log text in GB18030 instead of the standard's UTF-8.
        return segment.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise BadEncoding(
            f"data segment is neither UTF-8 nor GB18030 (byte {exc.start}: {segment[exc.start : exc.start + 4]!r})",
            field="segment",
            value=exc.start,
        ) from exc
