"""Mutated real packets: only the codec's typed errors come out, and no byte is dropped unseen."""

from __future__ import annotations

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
