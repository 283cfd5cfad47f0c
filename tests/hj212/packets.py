"""Packets for codec tests, built with the encoder (the simulator will take this over)."""

from __future__ import annotations

from datetime import datetime

from offsite.hj212.encoder import encode
from offsite.hj212.packet import Packet
from offsite.hj212.times import CST
from offsite.hj212.uploads import upload

MN = "010000A8900016F000169DC0"
GAS_FACTORS = ("a21026", "a21002", "a34013", "a19001", "a00000", "a01012", "a01013", "a01014")


def minute_packet(index: int = 0, *, n_factors: int = 8, qn: str = "20240601085857223") -> Packet:
    """An 8-factor flue-gas minute upload (2051) like the ones a CEMS sends every minute."""
    factors = {
        code: {"Min": 10.0 + i + index, "Avg": 12.25 + i, "Max": 15.5 + i, "Cou": 0.125 * i, "Flag": "N"}
        for i, code in enumerate(GAS_FACTORS[:n_factors])
    }
    return upload(
        cn="2051",
        mn=MN,
        pw="123456",
        st="31",
        qn=qn,
        data_time=datetime(2024, 6, 1, 8, index % 60, tzinfo=CST),
        factors=factors,
    )


def minute_bytes(index: int = 0) -> bytes:
    return encode(minute_packet(index))


def long_packet(segment_length: int) -> bytes:
    """An unsplit upload whose data segment is exactly ``segment_length`` bytes (real loggers send 1,045 and 1,623)."""
    header = {"cn": "2011", "st": "22", "qn": "20210301111100112", "pw": "123456", "mn": MN, "flag": 4}
    items: list[tuple[str, str]] = [("DataTime", "20210301111100")]

    def length() -> int:
        return int(encode(Packet(**header, cp=tuple(items)))[2:6])  # type: ignore[arg-type]

    while length() < segment_length - 20:
        items.append((f"a{99000 + len(items)}-Rtd", "12.5"))
    key, text = items[-1]
    items[-1] = (key, "1" * (len(text) + segment_length - length()))
    data = encode(Packet(**header, cp=tuple(items)))  # type: ignore[arg-type]
    assert int(data[2:6]) == segment_length
    return data
