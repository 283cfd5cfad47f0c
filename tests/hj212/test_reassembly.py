from __future__ import annotations

from dataclasses import replace

import pytest

from offsite.hj212 import Assembled, Decoded, Incomplete, Reassembler, decode, encode
from offsite.hj212.reassembly import ranges
from offsite.hj212.uploads import split
from tests.conftest import load_vectors
from tests.hj212.packets import long_packet, minute_packet


def parts_of(max_length: int) -> list[Decoded]:
    whole = minute_packet(0)
    return [decode(encode(p)) for p in split(whole, max_length)]


def test_split_then_reassemble_in_any_order_gives_back_the_message() -> None:
    whole = minute_packet(0)
    parts = parts_of(300)
    assert len(parts) >= 3
    assert all(p.packet.pnum == len(parts) for p in parts)
    assert all(int(p.frame.raw[2:6]) <= 300 for p in parts)
    assert len({p.packet.qn for p in parts}) == len(parts)  # each part its own QN
    for order in (parts, parts[::-1], parts[1:] + parts[:1]):
        r = Reassembler(timeout=30)
        results = [r.add(p, now=0.0) for p in order]
        assert results[:-1] == [None] * (len(parts) - 1)
        done = results[-1]
        assert isinstance(done, Assembled)
        assert done.packet.cp == whole.cp
        assert done.packet.pnum is None
        assert done.packet.flag == whole.flag
        assert set(done.factors) == {"a21026", "a21002", "a34013", "a19001", "a00000", "a01012", "a01013", "a01014"}
        assert len(r) == 0


def test_duplicate_parts_are_counted_not_doubled() -> None:
    parts = parts_of(400)
    r = Reassembler()
    assert r.add(parts[0], 0.0) is None
    assert r.add(parts[0], 1.0) is None
    done = None
    for p in parts[1:]:
        done = r.add(p, 2.0)
    assert isinstance(done, Assembled)
    assert done.duplicates == 1
    assert [p.packet.pno for p in done.parts] == list(range(1, len(parts) + 1))


def test_a_part_that_never_comes_gives_an_incomplete_after_the_timeout() -> None:
    parts = parts_of(300)
    r = Reassembler(timeout=60)
    for p in parts[:-1]:
        assert r.add(p, now=100.0) is None
    assert r.expire(now=159.0) == []
    (gone,) = r.expire(now=160.0)
    assert isinstance(gone, Incomplete)
    assert gone.missing == (len(parts),)
    assert gone.received == tuple(range(1, len(parts)))
    assert len(r) == 0


def test_messages_of_different_devices_or_times_do_not_mix() -> None:
    a = parts_of(300)
    b = [decode(encode(replace(p.packet, mn="OTHER"))) for p in a]
    r = Reassembler()
    out = [r.add(p, 0.0) for pair in zip(a, b, strict=True) for p in pair]
    done = [o for o in out if o is not None]
    assert {d.packet.mn for d in done} == {a[0].packet.mn, "OTHER"}


def test_the_standards_split_example_reassembles() -> None:
    parts = [v for v in load_vectors() if v.get("flag") == "7" and "split packet" in v["notes"]]
    assert len(parts) == 2
    r = Reassembler()
    results = [r.add(decode(v["packet"].encode()), 0.0) for v in parts]
    done = results[-1]
    assert isinstance(done, Assembled)
    assert done.packet.get("DataTime") == "20160801080000"
    assert [k for k, _ in done.packet.cp].count("DataTime") == 1
    assert {"w00000", "w01001", "w01018"} <= set(done.factors)


def test_unsplit_packets_are_refused() -> None:
    with pytest.raises(ValueError, match="not part of a split message"):
        Reassembler().add(decode(long_packet(300)), 0.0)


def test_messages_that_never_complete_hold_bounded_memory() -> None:
    """A device (or one who knows its password) opening split messages without end."""
    first = parts_of(300)[0]
    r = Reassembler(timeout=60, max_pending=4)
    for n in range(10):  # ten messages, each a different DataTime, none ever complete
        packet = replace(first.packet, cp=(("DataTime", f"2026112910{n:02d}00"), *first.packet.cp[1:]))
        assert r.add(replace(first, packet=packet), now=float(n)) is None
    assert len(r) == 4
    given_up = r.expire(now=10.0)  # the six oldest, pushed out by newer ones, come out at once
    assert [g.key[2] for g in given_up] == [f"2026112910{n:02d}00" for n in range(6)]
    assert len(r) == 4


def test_missing_parts_read_as_ranges() -> None:
    assert ranges((1, 2, 3, 7, 9, 10)) == "1-3,7,9-10"
    assert ranges(tuple(range(2, 10_000))) == "2-9999"
    assert ranges(tuple(range(1, 100, 2)), most=3) == "1,3,5,… (47 more runs)"
