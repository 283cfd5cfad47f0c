"""Reading data segments: header fields, versions, CP items, factors and every typed error."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offsite.hj212 import Decoder, FrameFault, HJ212Error, Packet, decode
from offsite.hj212.crc import crc_text, hj212_crc
from offsite.hj212.decoder import DecodeOptions, parse_segment
from offsite.hj212.encoder import encode
from offsite.hj212.errors import BadCp, BadHeaderField, BadTime, EncodeError, NoHeader, UnknownVersion
from offsite.hj212.frame import FramingOptions
from offsite.hj212.times import CST
from offsite.hj212.uploads import split
from offsite.hj212.version import Version
from tests.hj212.packets import minute_packet


def frame(segment: str | bytes) -> bytes:
    raw = segment.encode() if isinstance(segment, str) else segment
    return b"##%04d" % len(raw) + raw + crc_text(hj212_crc(raw)).encode() + b"\r\n"


def test_header_fields_are_read_by_key_in_any_order() -> None:
    d = decode(frame("MN=M1;PW=pw;CN=2011;ST=31;Flag=5;QN=20240601000000001;CP=&&DataTime=20240601000000&&"))
    p = d.packet
    assert (p.qn, p.st, p.cn, p.pw, p.mn, p.flag) == ("20240601000000001", "31", "2011", "pw", "M1", 5)
    assert p.version is Version.V2017
    assert p.ack_requested
    assert d.data_time == datetime(2024, 6, 1, tzinfo=CST)


def test_numbers_keep_their_exact_text_and_a_float() -> None:
    d = decode(
        frame(
            "ST=31;CN=2011;CP=&&DataTime=20240601000000;a21026-Rtd=1.230,a21026-Flag=N,a21026-SampleTime=20240601000000&&"
        )
    )
    so2 = d.factors["a21026"]
    assert so2.fields["Rtd"] == "1.230"
    assert so2.value("Rtd") == pytest.approx(1.23)
    assert so2.flag == "N"
    assert "SampleTime" not in so2.numbers  # a time, not a quantity
    assert "Flag" not in so2.numbers


def test_2005_codes_map_to_2017_and_keep_the_original() -> None:
    d = decode(
        frame(
            "ST=32;CN=2011;PW=1;MN=88888880000001;CP=&&DataTime=20040516010101;B01-Rtd=3.5;011-Rtd=50.2;060-Rtd=1.1&&"
        )
    )
    assert d.packet.version is Version.V2005
    assert set(d.factors) == {"w00000", "w01018", "w21003"}
    assert d.factors["w01018"].code_2005 == "011"
    assert d.factors["w01018"].value("Rtd") == pytest.approx(50.2)


def test_unknown_keys_duplicates_and_vendor_suffixes_are_kept() -> None:
    d = decode(
        frame("ST=22;CN=2011;Vendor=x;CP=&&DataTime=20240601000000;a21-Rtd=1;a21-Rtd=2;lng=117.2;a34004-ValidNum=44;&&")
    )
    assert d.packet.cp == (
        ("DataTime", "20240601000000"),
        ("a21-Rtd", "1"),
        ("a21-Rtd", "2"),
        ("lng", "117.2"),
        ("a34004-ValidNum", "44"),
    )
    assert d.packet.extra_header == (("Vendor", "x"),)
    assert d.factors["a21"].fields["Rtd"] == "1"
    assert d.factors["a34004"].value("ValidNum") == 44.0


def test_chinese_log_text_is_utf8_and_round_trips() -> None:
    packet = Packet(cn="3020", st="32", flag=4, cp=(("DataTime", "20240601000000"), ("i11001-Info", "//清洗管路//")))
    data = encode(packet)
    assert int(data[2:6]) == len(data) - 12  # the length counts bytes, not characters
    assert decode(data).factors["i11001"].fields["Info"] == "//清洗管路//"


def test_gb18030_text_from_older_loggers_is_read() -> None:
    segment = "ST=32;CN=3020;Flag=4;CP=&&i11001-Info=清洗&&".encode("gb18030")
    assert decode(frame(segment)).factors["i11001"].fields["Info"] == "清洗"


@pytest.mark.parametrize(
    ("segment", "error", "code", "named"),
    [
        ("ST=32;CN=2011;Flag=4;", BadCp, "bad_cp", "CP=&&"),
        ("ST=32;Flag=4;CP=&&&&", BadHeaderField, "bad_header_field", "CN"),
        ("ST=32;CN=20111;CP=&&&&", BadHeaderField, "bad_header_field", "'20111'"),
        ("ST=32;CN=2011;Flag=x5;CP=&&&&", BadHeaderField, "bad_header_field", "Flag='x5'"),
        ("ST=32;CN=2011;Flag=300;CP=&&&&", BadHeaderField, "bad_header_field", "Flag='300'"),
        ("ST=32;CN=2011;Flag=13;CP=&&&&", UnknownVersion, "unknown_version", "Flag=13"),
        ("ST=32;CN=2011;Flag=6;PNUM=2;CP=&&&&", BadHeaderField, "bad_header_field", "PNUM"),
        ("ST=32;CN=2011;Flag=6;PNUM=2;PNO=3;CP=&&&&", BadHeaderField, "bad_header_field", "PNO=3"),
        ("ST=32;CN=2011;CN=2051;CP=&&&&", BadHeaderField, "bad_header_field", "CN appears twice"),
        ("ST=32;junk;CN=2011;CP=&&&&", BadHeaderField, "bad_header_field", "'junk'"),
        ("ST=32;CN=2011;CP=&&DataTime=2024060100;a-Rtd=1&&", BadTime, "bad_time", "DataTime='2024060100'"),
        ("ST=32;CN=2011;CP=&&DataTime=20241301000000&&", BadTime, "bad_time", "20241301000000"),
        ("ST=32;CN=2011;CP=&&DataTime=20240601000000;a21026-Rtd&&", BadCp, "bad_cp", "a21026-Rtd"),
    ],
)
def test_malformed_segments_raise_typed_errors_naming_the_field(
    segment: str, error: type[HJ212Error], code: str, named: str
) -> None:
    with pytest.raises(error) as info:
        decode(frame(segment))
    assert info.value.code == code
    assert named in info.value.message


def test_missing_closing_ampersands_are_tolerated_unless_strict() -> None:
    assert parse_segment(b"ST=32;CN=2011;CP=&&DataTime=20240601000000").get("DataTime") == "20240601000000"
    with pytest.raises(BadCp):
        parse_segment(b"ST=32;CN=2011;CP=&&DataTime=20240601000000", strict=True)


def test_seventeen_digit_data_time_keeps_milliseconds() -> None:
    d = decode(frame("ST=32;CN=2011;CP=&&DataTime=20210301111100112&&"))
    assert d.data_time == datetime(2021, 3, 1, 11, 11, 0, 112000, tzinfo=CST)


def test_decode_wants_exactly_one_packet() -> None:
    one = frame("ST=32;CN=2011;CP=&&&&")
    with pytest.raises(NoHeader):
        decode(one + one)
    with pytest.raises(NoHeader):
        decode(b"")


def test_2025_heartbeat() -> None:
    d = decode(frame("QN=20240601085857223;ST=32;CN=9015;PW=123456;MN=M;Flag=9;CP=&&&&"))
    assert d.packet.version is Version.V2025
    assert d.packet.ack_requested


_CP_TOKENS = ["a21026", "a21002", "011", "B01", "w01018", "SB1", "x", "DataTime", "Rtd", "Avg", "Flag", "", "清"]
_CP_VALUES = [
    "12.5",
    "1.230",
    "N",
    "nan",
    "inf",
    "1_0",
    "",
    "-3",
    "1e3",
    " 7",
    "7 ",
    "abc",
    "20240601000000",
    "a=b",
    "清洗",
    "1.5e400",
    "+.5",
    "0x10",
    "１２",
    "\x00",
]
_SUFFIXES = ["Rtd", "Avg", "Min", "Flag", "EFlag", "SampleTime", "SN", "Cou", "Info", ""]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(_CP_TOKENS),
            st.one_of(st.none(), st.sampled_from(_SUFFIXES)),
            st.sampled_from(_CP_VALUES),
            st.sampled_from([";", ",", ";;"]),
        ),
        max_size=20,
    ),
    st.booleans(),
)
@settings(max_examples=800)
def test_the_c_accelerator_gives_what_the_python_path_gives(
    items: list[tuple[str, str | None, str, str]], gb18030: bool
) -> None:
    from offsite.hj212.decoder import read_cp

    text = "".join(
        (sep if i else "") + (f"{code}-{suffix}" if suffix is not None else code) + "=" + value
        for i, (code, suffix, value, sep) in enumerate(items)
    )
    body = text.encode("gb18030" if gb18030 else "utf-8")
    try:
        expected = read_cp(body, accelerated=False)
    except HJ212Error as error:
        with pytest.raises(type(error)):
            read_cp(body)
        return
    assert read_cp(body) == expected


def test_the_accelerator_is_built_where_ci_requires_it() -> None:
    import os

    from offsite.hj212 import decoder

    if os.environ.get("OFFSITE_REQUIRE_SPEEDUPS") == "1":
        assert decoder.ACCELERATED, "offsite/hj212/_speedups.c was not compiled"
    else:
        print(f"C accelerator in use: {decoder.ACCELERATED} (set OFFSITE_REQUIRE_SPEEDUPS=1 to require it)")
    body = b"DataTime=20240601000000;a21026-Rtd=1.5,a21026-Flag=N"
    assert decoder.read_cp(body) == decoder.read_cp(body, accelerated=False)


def test_a_device_allowed_a_legacy_crc_is_found_by_peeking_at_its_header() -> None:
    from offsite.hj212 import FrameFault
    from offsite.hj212.crc import CrcVariant
    from offsite.hj212.decoder import DecodeOptions, decode_frame, decode_stream, peek_header
    from offsite.hj212.frame import split_frames

    legacy = {"LEGACY01": (CrcVariant.HJ212, CrcVariant.MODBUS_SWAPPED)}
    data = encode(Packet(cn="2011", st="31", mn="LEGACY01", pw="p", flag=4), crc_variant=CrcVariant.MODBUS_SWAPPED)
    (fault,) = decode_stream(data)
    assert isinstance(fault, FrameFault)
    assert fault.error.code == "crc_mismatch"
    (frame,) = split_frames(data)
    header = peek_header(frame.segment)  # type: ignore[union-attr]
    assert header["MN"] == "LEGACY01"
    decoded = decode_frame(frame, DecodeOptions(crc_variants=legacy[header["MN"]]))  # type: ignore[arg-type]
    assert decoded.crc.variant is CrcVariant.MODBUS_SWAPPED
    assert peek_header(b"garbage") == {}


@pytest.mark.parametrize("key", ["Flag", "PNUM", "PNO"])
@pytest.mark.parametrize("digits", ["1" * 5000, "9" * 9000, "0" * 4400 + "1" * 4400])
def test_header_numbers_of_thousands_of_digits_are_typed_errors_naming_the_field(key: str, digits: str) -> None:
    """Python's int() refuses more than 4,300 digits with a plain ValueError: counted first."""
    fields = {"Flag": "7", "PNUM": "2", "PNO": "1", key: digits}
    segment = "QN=1;ST=32;CN=2011;" + "".join(f"{k}={v};" for k, v in fields.items()) + "CP=&&&&"
    (item,) = Decoder(DecodeOptions(framing=FramingOptions(max_length=9999))).feed(frame(segment))
    assert isinstance(item, FrameFault)
    assert isinstance(item.error, BadHeaderField)
    assert item.error.field == key
    assert item.error.message.startswith(f"{key}=")
    assert len(item.error.message) < 200  # the value is cut short in the message, kept whole in .value
    assert item.error.value == digits


def test_leading_zeros_do_not_count_against_a_header_number() -> None:
    packet = parse_segment(b"ST=32;CN=2061;Flag=7;PNUM=" + b"0" * 5000 + b"2;PNO=0001;CP=&&&&")
    assert (packet.pnum, packet.pno) == (2, 1)


def test_a_huge_qn_is_counted_up_per_split_part_without_int() -> None:
    qn = "9" * 5000
    parts = split(minute_packet(qn=qn), max_length=5400)
    assert [p.qn for p in parts][:2] == [qn, "1" + "0" * 5000]


def test_an_integer_too_long_to_write_is_an_encode_error() -> None:
    with pytest.raises(EncodeError, match="Flag"):
        encode(Packet(cn="2011", flag=10**5000))
