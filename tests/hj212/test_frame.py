"""Framing: resync after garbage, partial reads, wrong lengths, terminators, limits."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from offsite.hj212 import Decoded, FrameFault, FramingOptions
from offsite.hj212.decoder import DecodeOptions, Decoder, decode_stream
from offsite.hj212.frame import Frame, FrameScanner, Terminator, split_frames
from tests.hj212.packets import long_packet, minute_bytes

A = minute_bytes(0)
B = minute_bytes(1)


def codes(items: list[Frame | FrameFault] | list[Decoded | FrameFault]) -> list[str]:
    return ["ok" if not isinstance(i, FrameFault) else i.error.code for i in items]


def test_garbage_between_frames_is_one_no_header_fault_per_run() -> None:
    items = split_frames(b"\x00\xffjunk" + A + b"more junk\r\n" + B + b"tail")
    assert codes(items) == ["no_header", "ok", "no_header", "ok", "no_header"]
    assert isinstance(items[0], FrameFault)
    assert items[0].raw == b"\x00\xffjunk"
    assert items[2].raw == b"more junk"  # type: ignore[union-attr]
    assert items[4].raw == b"tail"  # type: ignore[union-attr]


def test_blank_lines_between_frames_are_separators_not_junk() -> None:
    assert codes(split_frames(b"\r\n\r\n" + A + b"\n\n  \r\n" + B + b"\r\n")) == ["ok", "ok"]


@given(st.lists(st.integers(min_value=1, max_value=len(A) * 2 + 20), max_size=12))
@settings(max_examples=150)
def test_any_split_of_the_stream_into_reads_gives_the_same_frames(cuts: list[int]) -> None:
    stream = b"noise" + A + B + b"##xx\r\n" + A
    whole = split_frames(stream)
    scanner = FrameScanner()
    pieces: list[Frame | FrameFault] = []
    last = 0
    for cut in sorted({c for c in cuts if c < len(stream)}):
        pieces += scanner.feed(stream[last:cut])
        last = cut
    pieces += scanner.feed(stream[last:]) + scanner.close()
    assert [(codes([p]), p.raw) for p in pieces] == [(codes([w]), w.raw) for w in whole]


def test_partial_frame_is_kept_for_the_next_read() -> None:
    scanner = FrameScanner()
    assert scanner.feed(A[:100]) == []
    assert scanner.pending == 100
    (frame,) = scanner.feed(A[100:])
    assert isinstance(frame, Frame)
    assert frame.raw == A
    assert scanner.pending == 0


def test_frames_back_to_back_without_terminator() -> None:
    items = split_frames(A[:-2] + B[:-2] + A)
    assert codes(items) == ["ok", "ok", "ok"]
    assert [i.terminator for i in items if isinstance(i, Frame)] == [Terminator.NONE, Terminator.NONE, Terminator.CRLF]


def test_lf_only_and_missing_terminators_are_accepted_by_default_but_not_strictly() -> None:
    stream = A[:-2] + b"\n" + B[:-2]
    assert codes(split_frames(stream)) == ["ok", "ok"]
    assert codes(split_frames(stream, FramingOptions.standard())) == ["bad_terminator", "bad_terminator"]


def test_a_frame_without_terminator_waits_for_the_next_read_or_a_flush() -> None:
    scanner = FrameScanner()
    assert scanner.feed(A[:-2]) == []  # the CRLF may still come
    (frame,) = scanner.feed(b"\r\n")
    assert isinstance(frame, Frame)
    assert frame.raw == A
    assert scanner.feed(B[:-2]) == []
    (frame,) = scanner.flush()  # the caller saw the line go quiet
    assert isinstance(frame, Frame)
    assert frame.terminator is Terminator.NONE
    assert frame.raw == B[:-2]
    assert scanner.feed(b"\r\n") == []  # a late CRLF is a separator, not junk
    assert scanner.close() == []


def test_flush_does_not_release_partial_frames() -> None:
    scanner = FrameScanner()
    assert scanner.feed(A[:100]) == []
    assert scanner.flush() == []
    assert scanner.pending == 100


def test_declared_length_too_long_is_detected_at_the_line_end() -> None:
    bad = b"##0800" + A[6:]  # real segment is 744 bytes
    items = split_frames(bad + B)
    assert codes(items) == ["bad_length", "ok"]
    fault = items[0]
    assert isinstance(fault, FrameFault)
    assert "declared length 800 but the frame ends after 744 bytes" in fault.error.message
    assert fault.raw == bad


def test_declared_length_too_short_is_detected_and_the_next_frame_survives() -> None:
    bad = b"##0700" + A[6:]
    items = split_frames(bad + B)
    assert codes(items) == ["bad_length", "ok"]
    assert "declared length 700 is wrong" in items[0].error.message  # type: ignore[union-attr]


def test_unpadded_length_is_read_leniently_and_rejected_strictly() -> None:
    segment = b"QN=1;ST=32;CN=2011;PW=1;MN=M;CP=&&&&"
    from offsite.hj212.crc import crc_text, hj212_crc

    frame = b"##" + str(len(segment)).encode() + segment + crc_text(hj212_crc(segment)).encode() + b"\r\n"
    assert codes(decode_stream(frame)) == ["ok"]
    assert codes(split_frames(frame, FramingOptions.standard())) == ["bad_length"]


def test_real_overlong_packets_pass_by_default_and_fail_strictly() -> None:
    for length in (1025, 1045, 1623):
        data = long_packet(length)
        assert codes(decode_stream(data)) == ["ok"], length
        strict = decode_stream(data, DecodeOptions(framing=FramingOptions.standard()))
        assert codes(strict) == ["too_long"]
        assert f"length {length} exceeds the maximum 1024" in strict[0].error.message  # type: ignore[union-attr]
    assert codes(decode_stream(long_packet(1024), DecodeOptions(framing=FramingOptions.standard()))) == ["ok"]


def test_max_length_is_configurable() -> None:
    data = long_packet(1623)
    assert codes(split_frames(data, FramingOptions(max_length=1600))) == ["too_long"]
    assert codes(split_frames(data, FramingOptions(max_length=2000))) == ["ok"]


def test_truncated_frame_is_reported_only_at_end_of_stream() -> None:
    scanner = FrameScanner()
    assert scanner.feed(A[:300]) == []
    (fault,) = scanner.close()
    assert isinstance(fault, FrameFault)
    assert fault.error.code == "truncated"
    assert fault.raw == A[:300]


def test_extra_hashes_before_a_header_are_junk() -> None:
    items = split_frames(b"####" + A)
    assert codes(items) == ["no_header", "ok"]
    assert items[0].raw == b"####"  # type: ignore[union-attr]


def test_length_field_that_is_not_digits() -> None:
    items = split_frames(b"##ABCDQN=1;CP=&&&&1234\r\n" + A)
    assert codes(items) == ["bad_length", "ok"]


def test_one_megabyte_of_junk_is_reported_in_bounded_pieces_without_holding_it() -> None:
    scanner = FrameScanner()
    reported = 0
    for _ in range(16):
        for item in scanner.feed(b"x" * 65536):
            assert isinstance(item, FrameFault)
            assert item.error.code == "no_header"
            reported += len(item.raw)
        assert scanner.pending <= 2 * 65536
    for item in scanner.feed(A) + scanner.close():
        if isinstance(item, FrameFault):
            reported += len(item.raw)
    assert reported == 16 * 65536


def test_frame_offsets_point_into_the_stream() -> None:
    stream = b"abc" + A + B
    frames = [i for i in split_frames(stream) if isinstance(i, Frame)]
    assert [f.offset for f in frames] == [3, 3 + len(A)]
    for frame in frames:
        assert stream[frame.offset : frame.offset + len(frame.raw)] == frame.raw


def test_decoder_reports_crc_failure_and_carries_on() -> None:
    corrupted = A.replace(b"a21026-Avg=12.25", b"a21026-Avg=92.25")
    decoder = Decoder()
    items = decoder.feed(corrupted + B) + decoder.close()
    assert codes(items) == ["crc_mismatch", "ok"]
    assert items[0].raw == corrupted  # type: ignore[union-attr]
