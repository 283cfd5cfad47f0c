"""Mutated real packets: only the codec's typed errors come out, and no byte is dropped unseen."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from offsite.hj212 import Decoded, FrameFault, HJ212Error
from offsite.hj212.crc import CrcVariant
from offsite.hj212.decoder import DecodeOptions, Decoder
from offsite.hj212.frame import FramingOptions
from tests.conftest import load_vectors
from tests.hj212.packets import minute_bytes

SEEDS = [v["packet"].encode("utf-8") for v in load_vectors()] + [minute_bytes(i) for i in range(3)]
BLANK = b" \t\r\n"
KNOWN_CODES = {
    "no_header",
    "bad_length",
    "too_long",
    "truncated",
    "bad_terminator",
    "crc_mismatch",
    "bad_encoding",
    "bad_header_field",
    "bad_cp",
    "bad_time",
    "unknown_version",
}


@st.composite
def mutated_streams(draw: st.DrawFn) -> bytes:
    stream = bytearray()
    for _ in range(draw(st.integers(1, 4))):
        stream += draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "hash", "lf"]))
        at = draw(st.integers(0, max(len(stream) - 1, 0)))
        if op == "flip" and stream:
            stream[at] = draw(st.integers(0, 255))
        elif op == "insert":
            stream[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del stream[at : at + draw(st.integers(1, 8))]
        elif op == "truncate":
            del stream[at:]
        elif op == "hash":
            stream[at:at] = b"##"
        elif op == "lf":
            stream[at:at] = b"\n"
    return bytes(stream)


@given(mutated_streams(), st.lists(st.integers(1, 400), max_size=8), st.booleans())
@settings(max_examples=600, deadline=None)
def test_only_typed_errors_and_every_byte_accounted_for(stream: bytes, reads: list[int], strict: bool) -> None:
    options = DecodeOptions(
        framing=FramingOptions.standard() if strict else FramingOptions(),
        crc_variants=tuple(CrcVariant),
    )
    decoder = Decoder(options)
    items: list[Decoded | FrameFault] = []
    pos = 0
    for size in reads:
        items += decoder.feed(stream[pos : pos + size])
        pos += size
    items += decoder.feed(stream[pos:]) + decoder.close()

    covered = bytearray(len(stream))
    for item in items:
        if isinstance(item, FrameFault):
            assert isinstance(item.error, HJ212Error)
            assert item.error.code in KNOWN_CODES
            assert item.error.message
            start, raw = item.offset, item.raw
        else:
            start, raw = item.frame.offset, item.frame.raw
        assert stream[start : start + len(raw)] == raw
        covered[start : start + len(raw)] = b"\x01" * len(raw)
    lost = [i for i, byte in enumerate(stream) if not covered[i] and byte not in BLANK]
    assert not lost, f"bytes {lost[:10]} of the stream appear in no frame and no fault"


SEGMENTS = [s[6 : 6 + int(s[2:6])] for s in SEEDS if s[2:6].isdigit()]


@given(
    st.sampled_from(SEGMENTS),
    st.lists(st.tuples(st.integers(0, 2000), st.sampled_from(list(b";,=&-#CP0aQNF\xe6\xff"))), max_size=6),
)
@settings(max_examples=800, deadline=None)
def test_mutated_segments_with_valid_crc_fail_only_with_typed_errors(
    segment: bytes, edits: list[tuple[int, int]]
) -> None:
    from offsite.hj212.crc import crc_text, hj212_crc
    from offsite.hj212.decoder import decode_stream

    data = bytearray(segment)
    for at, byte in edits:
        data[at % max(len(data), 1) : at % max(len(data), 1)] = bytes([byte])
    framed = b"##%04d" % len(data) + bytes(data) + crc_text(hj212_crc(bytes(data))).encode() + b"\r\n"
    for item in decode_stream(framed):
        if isinstance(item, FrameFault):
            assert isinstance(item.error, HJ212Error)
            assert item.error.code in KNOWN_CODES


# -- hostile header fields, random reads, and read-independence ---------------------------------

ATTACKED_KEYS = (b"Flag", b"PNUM", b"PNO", b"QN", b"CN", b"ST", b"MN", b"PW", b"DataTime")
RUN_LENGTHS = (0, 1, 3, 4, 5, 19, 20, 21, 300, 4299, 4300, 4301, 5000, 9000)
"""Digit-run lengths around the interesting edges: field widths, the 64-bit range, Python's
4,300-digit int-string conversion limit, and the 9,999-byte segment limit."""

TERMINATED = [s for s in SEEDS if s.endswith(b"\n")]
"""Seeds that end their own line, so that what follows cannot change how they read."""

HUGE = DecodeOptions(framing=FramingOptions(max_length=9999), crc_variants=tuple(CrcVariant))


def reframe(segment: bytes) -> bytes:
    """A frame with the right length and CRC, so that the segment reaches the parser."""
    from offsite.hj212.crc import crc_text, hj212_crc

    segment = segment[:9999]
    return b"##%04d" % len(segment) + segment + crc_text(hj212_crc(segment)).encode() + b"\r\n"


@st.composite
def digit_runs(draw: st.DrawFn, current: bytes) -> bytes:
    kind = draw(st.sampled_from(["run", "zeros", "repeat"]))
    n = draw(st.sampled_from(RUN_LENGTHS))
    if kind == "run":
        return draw(st.sampled_from(b"0123456789")).to_bytes(1, "big") * n
    if kind == "zeros":  # leading zeros before a small value: the value is fine, the text is huge
        return b"0" * n + draw(st.sampled_from([b"1", b"2", b"4", b"5", b"9999", b"10000"]))
    return (current or b"1") * max(draw(st.integers(1, 3000)) // max(len(current), 1), 1)


@st.composite
def attacked_frames(draw: st.DrawFn) -> bytes:
    """A real packet with header (or DataTime) values replaced by huge or duplicated digit runs."""
    segment = draw(st.sampled_from(SEGMENTS))
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(ATTACKED_KEYS))
        at = segment.find(key + b"=")
        if at < 0 or (at > 0 and segment[at - 1 : at] not in (b";", b"&")):
            segment = key + b"=" + draw(digit_runs(b"")) + b";" + segment
            continue
        start = at + len(key) + 1
        end = start
        while end < len(segment) and segment[end : end + 1] not in (b";", b",", b"&"):
            end += 1
        segment = segment[:start] + draw(digit_runs(segment[start:end])) + segment[end:]
    return reframe(segment)


@st.composite
def hostile_streams(draw: st.DrawFn) -> bytes:
    parts = [
        draw(st.one_of(attacked_frames(), mutated_streams(), st.sampled_from(SEEDS)))
        for _ in range(draw(st.integers(1, 4)))
    ]
    return b"".join(parts)


def cut(stream: bytes, points: list[int]) -> list[bytes]:
    """The stream as the reads a socket might return: split at the given points (mod its length)."""
    at = sorted({p % (len(stream) + 1) for p in points} | {0, len(stream)})
    return [stream[a:b] for a, b in pairwise(at)]


def outcome(items: list[Decoded | FrameFault]) -> list[tuple[object, ...]]:
    """What a consumer sees, comparable across runs (errors compare by code, message and span)."""
    out: list[tuple[object, ...]] = []
    for item in items:
        if isinstance(item, Decoded):
            out.append(("packet", item.frame.offset, item.frame.raw, item.packet, item.data_time, dict(item.factors)))
        else:
            out.append(("fault", item.offset, item.raw, item.error.code, item.error.message))
    return out


def run(options: DecodeOptions, reads: list[bytes]) -> list[Decoded | FrameFault]:
    decoder = Decoder(options)
    items: list[Decoded | FrameFault] = []
    for chunk in reads:
        items += decoder.feed(chunk)
    return items + decoder.close()


@given(
    hostile_streams(), st.lists(st.integers(0, 1 << 16), max_size=12), st.sampled_from(["lenient", "huge", "strict"])
)
@settings(max_examples=300, deadline=None)
def test_huge_digit_runs_and_random_reads_give_only_typed_results(stream: bytes, points: list[int], mode: str) -> None:
    options = {
        "lenient": DecodeOptions(crc_variants=tuple(CrcVariant)),
        "huge": HUGE,
        "strict": DecodeOptions(framing=FramingOptions.standard()),
    }[mode]
    items = run(options, cut(stream, points))  # any exception other than these results fails the test
    for item in items:
        assert isinstance(item, Decoded | FrameFault), item
        if isinstance(item, FrameFault):
            assert isinstance(item.error, HJ212Error)
            assert item.error.code in KNOWN_CODES
            assert item.error.message
    assert outcome(items) == outcome(run(options, [stream]))


@given(
    st.lists(st.sampled_from(TERMINATED), min_size=1, max_size=6),
    st.lists(st.sampled_from([b"", b"\r\n", b"junk", b"#", b"##", b"\n\n"]), max_size=6),
    st.lists(st.integers(0, 1 << 16), max_size=20),
)
@settings(max_examples=200, deadline=None)
def test_a_valid_stream_split_anywhere_decodes_as_it_does_whole(
    packets: list[bytes], between: list[bytes], points: list[int]
) -> None:
    stream = b"".join(p + (between[i] if i < len(between) else b"") for i, p in enumerate(packets))
    whole = run(DecodeOptions(), [stream])
    assert outcome(run(DecodeOptions(), cut(stream, points))) == outcome(whole)
    assert outcome(run(DecodeOptions(), [stream[i : i + 1] for i in range(len(stream))])) == outcome(whole)
    alone = [item for p in packets for item in run(DecodeOptions(), [p]) if isinstance(item, Decoded)]
    assert [item.packet for item in whole if isinstance(item, Decoded)] == [item.packet for item in alone]
