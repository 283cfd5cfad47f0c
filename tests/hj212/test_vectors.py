"""Every packet of shared/hj212/vectors.jsonl decodes as the file says it should."""

from __future__ import annotations

from typing import Any

import pytest

from offsite.hj212 import CrcVariant, Decoded, DecodeOptions, FrameFault, decode_stream
from offsite.hj212.encoder import encode
from tests.conftest import load_vectors

VECTORS = load_vectors()


def _id(vector: dict[str, Any]) -> str:
    return f"{vector.get('cn')}-{vector['notes'][:40]}"


def test_the_copy_holds_the_whole_file() -> None:
    assert len(VECTORS) == 51
    assert sum(v["crc_ok"] for v in VECTORS) == 45


@pytest.mark.parametrize("vector", VECTORS, ids=_id)
def test_vector_decodes_as_documented(vector: dict[str, Any]) -> None:
    items = decode_stream(vector["packet"].encode("utf-8"))
    assert len(items) == 1
    item = items[0]
    if not vector["crc_ok"]:
        assert isinstance(item, FrameFault)
        assert item.error.code == "crc_mismatch"
        assert item.error.message.startswith(f"CRC {vector['crc_in_packet'].upper()} ")
        assert vector["crc_hj212"] in item.error.message
        return
    assert isinstance(item, Decoded), item
    packet = item.packet
    assert packet.cn == vector["cn"]
    assert packet.st == vector["st"]
    assert packet.mn == vector["mn"]
    assert packet.qn == vector["qn"]
    assert (None if packet.flag is None else str(packet.flag)) == vector["flag"]
    assert item.crc.declared == vector["crc_in_packet"].upper()
    assert item.frame.raw == vector["packet"].encode("utf-8")


@pytest.mark.parametrize("vector", [v for v in VECTORS if v["crc_ok"]], ids=_id)
def test_vector_reencodes_to_a_packet_that_decodes_to_the_same_items(vector: dict[str, Any]) -> None:
    first = decode_stream(vector["packet"].encode("utf-8"))[0]
    assert isinstance(first, Decoded)
    again = decode_stream(encode(first.packet))[0]
    assert isinstance(again, Decoded)
    assert again.packet == first.packet


def test_modbus_vector_is_accepted_only_when_its_variant_is_enabled() -> None:
    (student,) = [v for v in VECTORS if v.get("crc_variant", "").startswith("CRC-16/MODBUS")]
    data = student["packet"].encode()
    assert isinstance(decode_stream(data)[0], FrameFault)
    options = DecodeOptions(crc_variants=(CrcVariant.HJ212, CrcVariant.MODBUS, CrcVariant.MODBUS_SWAPPED))
    item = decode_stream(data, options)[0]
    assert isinstance(item, Decoded)
    assert item.crc.variant is CrcVariant.MODBUS
    assert item.crc.declared == "ED94"


def test_versions_follow_the_flag_bits() -> None:
    seen = {}
    for vector in VECTORS:
        item = decode_stream(vector["packet"].encode())[0]
        if isinstance(item, Decoded):
            seen[vector["flag"]] = item.packet.version.value
    assert seen[None] == "2005"
    assert seen["0"] == "2005"
    assert seen["3"] == "2005"
    assert seen["4"] == "2017"
    assert seen["7"] == "2017"
    assert seen["8"] == "2025"
    assert seen["9"] == "2025"
