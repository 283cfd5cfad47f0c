"""encode → decode → encode is the identity for every packet the encoder can write."""

from __future__ import annotations

from datetime import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from offsite.hj212 import Packet, decode, encode
from offsite.hj212.crc import CrcVariant
from offsite.hj212.decoder import DecodeOptions
from offsite.hj212.times import format_time

_SAFE = st.characters(blacklist_characters=";,=&#\r\n-", blacklist_categories=("Cs",))
texts = st.text(_SAFE, min_size=1, max_size=12)
values = st.text(st.characters(blacklist_characters=";,&#\r\n", blacklist_categories=("Cs",)), max_size=16)
codes = st.from_regex(r"[a-z][0-9]{5}", fullmatch=True)
suffixes = st.sampled_from(["Rtd", "Min", "Avg", "Max", "Cou", "ZsAvg", "Flag", "EFlag", "SampleTime", "Info", "X"])
plain_keys = st.sampled_from(["BeginTime", "EndTime", "QnRtn", "ExeRtn", "PolId", "InfoId", "Vendor"])

data_time = st.one_of(
    st.just(()),
    st.builds(
        lambda t: (("DataTime", format_time(t)),),
        st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)),
    ),
)
cp_items = st.lists(
    st.one_of(
        st.tuples(plain_keys, values),
        st.tuples(st.builds(lambda c, s: f"{c}-{s}", codes, suffixes), values),
    ),
    max_size=30,
)


@st.composite
def packets(draw: st.DrawFn) -> Packet:
    flag = draw(st.one_of(st.none(), st.integers(0, 11)))
    split = draw(st.booleans())
    pnum = draw(st.integers(1, 9999)) if split else None
    pno = draw(st.integers(1, pnum)) if pnum is not None else None
    return Packet(
        cn=draw(st.from_regex(r"[0-9]{4}", fullmatch=True)),
        st=draw(st.one_of(st.none(), texts)),
        qn=draw(st.one_of(st.none(), st.from_regex(r"[0-9]{17}", fullmatch=True))),
        pw=draw(st.one_of(st.none(), texts)),
        mn=draw(st.one_of(st.none(), texts)),
        flag=flag,
        pnum=pnum,
        pno=pno,
        cp=tuple(draw(data_time)) + tuple(draw(cp_items)),
    )


@given(packets(), st.sampled_from(list(CrcVariant)))
@settings(max_examples=400)
def test_encode_decode_encode_is_the_identity(packet: Packet, variant: CrcVariant) -> None:
    data = encode(packet, crc_variant=variant)
    decoded = decode(data, DecodeOptions(crc_variants=(variant,)))
    assert decoded.packet == packet
    assert encode(decoded.packet, crc_variant=variant) == data
    assert decoded.crc.variant is variant


@given(packets())
def test_encoded_length_field_counts_utf8_bytes(packet: Packet) -> None:
    data = encode(packet)
    assert int(data[2:6]) == len(data) - 12
    assert data.endswith(b"\r\n")
