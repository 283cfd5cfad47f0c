from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from offsite.hj212.crc import CrcVariant, crc_of, crc_text, hj212_crc, hj212_crc_reference, modbus_crc

SPEC_SEGMENT = b"QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&"


def test_check_value_is_2f80_not_modbus() -> None:
    assert hj212_crc(b"123456789") == 0x2F80
    assert modbus_crc(b"123456789") == 0x4B37


def test_standard_worked_example_is_1c80() -> None:
    # HJ 212-2017 Appendix A: the prose says "1C08", the packet and the C code give 1C80.
    assert crc_text(hj212_crc(SPEC_SEGMENT)) == "1C80"


def test_empty_input_is_the_initial_register() -> None:
    assert hj212_crc(b"") == hj212_crc_reference(b"") == 0xFFFF


@given(st.binary(max_size=5000))
def test_fast_crc_equals_the_standards_bit_loop(data: bytes) -> None:
    assert hj212_crc(data) == hj212_crc_reference(data)


@given(st.binary(min_size=1, max_size=64), st.integers(min_value=0, max_value=40))
def test_crc_depends_on_position_of_every_byte(data: bytes, shift: int) -> None:
    # Leading zero bytes are not neutral for this CRC (the register starts at 0xFFFF).
    padded = b"\x00" * shift + data
    assert hj212_crc(padded) == hj212_crc_reference(padded)


def test_chinese_text_is_checked_over_utf8_bytes() -> None:
    segment = "CP=&&i11001-Info=//清洗管路//&&".encode()
    assert hj212_crc(segment) == hj212_crc_reference(segment)
    # over UTF-16 code units, as char-based implementations do, the result differs
    as_chars = bytes(ord(c) & 0xFF for c in segment.decode())
    assert hj212_crc(as_chars) != hj212_crc(segment)


def test_modbus_swapped_is_the_byte_swapped_register() -> None:
    value = crc_of(SPEC_SEGMENT, CrcVariant.MODBUS)
    swapped = crc_of(SPEC_SEGMENT, CrcVariant.MODBUS_SWAPPED)
    assert swapped == ((value & 0xFF) << 8) | (value >> 8)
    assert crc_of(SPEC_SEGMENT, CrcVariant.HJ212) == 0x1C80
