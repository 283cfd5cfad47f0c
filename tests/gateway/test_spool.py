"""The spool keeps every acknowledged packet through torn writes, damaged bytes, restarts and upgrades."""

from __future__ import annotations

import json
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from offsite.gateway.spool import Spool, Spooled
from offsite.store.archive import Incoming

START = datetime(2026, 11, 1, tzinfo=UTC)


def record(n: int) -> Spooled:
    qn = f"{20261101000000000 + n}"
    body = f"QN={qn};ST=31;CN=2051;PW=123456;MN=MN{n:010d};Flag=5;CP=&&a21026-Avg={n}.5,a21026-Flag=N&&"
    data = f"##{len(body):04d}{body}1C80\r\n".encode()
    incoming = Incoming(
        data=data, peer=f"10.0.0.{n % 250}:4000", received_at=START + timedelta(minutes=n), mn=f"MN{n:010d}", qn=qn
    )
    return Spooled(incoming, n)


def append_one_by_one(spool: Spool, numbers: range) -> list[int]:
    """Append each record in its own call; the file size after each (where the next one starts)."""
    sizes = []
    for n in numbers:
        spool.append([record(n)])
        sizes.append(spool.path.stat().st_size)
    return sizes


def quarantined(directory: Path) -> list[Path]:
    return sorted(directory.glob("spool.bin.corrupt-*"))


@pytest.mark.parametrize("kept", [1, 7, 20, "half", -1])
def test_records_appended_after_a_torn_tail_are_kept(tmp_path: Path, kept: int | str) -> None:
    """Power lost while record 4 was written: records 5 and 6, appended after the restart, survive."""
    spool = Spool(tmp_path)
    sizes = append_one_by_one(spool, range(1, 5))
    start, end = sizes[2], sizes[3]
    cut = start + ((end - start) // 2 if kept == "half" else int(kept) % (end - start))
    with spool.path.open("r+b") as f:
        f.truncate(cut)  # record 4 was never fsynced, so never acknowledged

    torn = spool.path.read_bytes()[start:]
    spool = Spool(tmp_path)
    assert spool.path.stat().st_size == start  # the torn bytes are cut off
    assert spool.damaged == 0
    assert quarantined(tmp_path) == []
    copies = [p.read_bytes() for p in tmp_path.glob("spool.bin.torn-*")]
    assert copies == ([torn] if len(torn) >= 16 else [])  # a frame's length may have been damaged: kept
    spool.append([record(5)])
    spool.append([record(6)])
    spool = Spool(tmp_path)
    assert list(spool.read()) == [record(n) for n in (1, 2, 3, 5, 6)]
    assert len(spool) == 5


@pytest.mark.parametrize("where", [0, 5, 10, 17, "middle", -1])
def test_a_damaged_record_in_the_middle_is_set_aside_and_the_rest_kept(tmp_path: Path, where: int | str) -> None:
    """A flipped byte anywhere in record 3 (marker, length, digest, payload) loses record 3 only, loudly."""
    spool = Spool(tmp_path)
    sizes = append_one_by_one(spool, range(1, 6))
    start, end = sizes[1], sizes[2]
    at = start + ((end - start) // 2 if where == "middle" else int(where) % (end - start))
    data = bytearray(spool.path.read_bytes())
    data[at] ^= 0x40
    spool.path.write_bytes(bytes(data))

    spool = Spool(tmp_path)
    assert list(spool.read()) == [record(n) for n in (1, 2, 4, 5)]
    assert spool.damaged == 1
    [aside] = quarantined(tmp_path)
    assert aside.read_bytes() == bytes(data[start:end])  # exactly the damaged record, nothing more

    spool.append([record(6)])
    spool = Spool(tmp_path)  # reopening finds the same damage again but copies it only once
    assert list(spool.read()) == [record(n) for n in (1, 2, 4, 5, 6)]
    assert quarantined(tmp_path) == [aside]


def test_a_damaged_last_record_is_set_aside_and_later_appends_kept(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    sizes = append_one_by_one(spool, range(1, 4))
    data = bytearray(spool.path.read_bytes())
    data[(sizes[1] + sizes[2]) // 2] ^= 0x01
    spool.path.write_bytes(bytes(data))

    spool = Spool(tmp_path)
    assert spool.damaged == 1
    assert len(quarantined(tmp_path)) == 1
    spool.append([record(4)])
    assert list(Spool(tmp_path).read()) == [record(n) for n in (1, 2, 4)]


def test_a_zeroed_tail_is_cut_without_a_quarantine_copy(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    append_one_by_one(spool, range(1, 3))
    with spool.path.open("ab") as f:
        f.write(bytes(300))  # file size grew, data never reached the disk
    spool = Spool(tmp_path)
    spool.append([record(3)])
    assert list(Spool(tmp_path).read()) == [record(n) for n in (1, 2, 3)]
    assert quarantined(tmp_path) == []


def test_a_damaged_file_header_is_moved_aside_and_a_new_spool_started(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    append_one_by_one(spool, range(1, 3))
    data = bytearray(spool.path.read_bytes())
    data[12] ^= 0xFF  # inside the spool id
    spool.path.write_bytes(bytes(data))
    spool = Spool(tmp_path)
    assert len(spool) == 0
    assert [p.read_bytes() for p in quarantined(tmp_path)] == [bytes(data)]
    spool.append([record(3)])
    assert list(Spool(tmp_path).read()) == [record(3)]


def test_progress_survives_a_restart(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append([record(n) for n in range(1, 6)])
    records = spool.read()
    assert spool.replayed() == 0
    spool.mark_replayed(2)
    assert list(records[2:4]) == [record(3), record(4)]  # a read() stays valid after marking

    spool = Spool(tmp_path)
    assert spool.replayed() == 2
    assert len(spool) == spool.pending() == 3
    assert list(spool.read()) == [record(n) for n in (3, 4, 5)]
    assert not list(tmp_path.glob("*.tmp"))

    spool.mark_replayed(5)
    assert len(Spool(tmp_path)) == 0
    assert not spool.path.exists()  # replayed entirely before the restart: nothing left to keep


def test_stale_progress_never_skips_records_of_a_new_spool(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append([record(n) for n in range(1, 4)])
    spool.mark_replayed(3)
    stale = spool.progress.read_bytes()
    spool.clear()
    spool.append([record(n) for n in range(4, 7)])
    spool.progress.write_bytes(stale)  # as if power was lost before clear() removed it
    assert list(Spool(tmp_path).read()) == [record(n) for n in (4, 5, 6)]
    spool.progress.write_text("3")  # a count of the earlier format
    assert list(Spool(tmp_path).read()) == [record(n) for n in (4, 5, 6)]


def test_the_ingest_replay_sequence(tmp_path: Path) -> None:
    """What offsite.gateway.ingest does: read, replay in chunks, mark, clear; len between outages."""
    spool = Spool(tmp_path)
    spool.append([record(n) for n in range(10)])
    spool.append([record(n) for n in range(10, 25)])
    assert len(spool) == 25
    records, done = spool.read(), spool.replayed()
    replayed = []
    for start in range(0, len(records), 10):
        chunk = records[start : start + 10]
        replayed += chunk
        done += len(chunk)
        spool.mark_replayed(done)
        if done == 20:
            break  # the database went away again
    assert len(spool) == 5
    spool.append([record(25)])
    records = spool.read()
    assert records == [record(n) for n in range(20, 26)]
    assert records[-1] == record(25)
    spool.mark_replayed(spool.replayed() + len(records))
    spool.clear()
    assert len(spool) == 0
    assert not spool.path.exists()
    with pytest.raises(RuntimeError):
        records[0]
    spool.append([record(99)])
    assert list(Spool(tmp_path).read()) == [record(99)]


def test_a_spool_written_by_another_instance_is_rescanned(tmp_path: Path) -> None:
    first, second = Spool(tmp_path), Spool(tmp_path)
    first.append([record(1)])
    second.append([record(2)])
    first.append([record(3)])
    assert list(first.read()) == [record(n) for n in (1, 2, 3)]
    assert list(Spool(tmp_path).read()) == [record(n) for n in (1, 2, 3)]


# -- the earlier format ----------------------------------------------------------------------

_LEN = struct.Struct(">I")


def old_format(records: list[Spooled]) -> bytes:
    """Exactly what the spool wrote before format 2."""
    chunks = []
    for r in records:
        p = r.incoming
        header = json.dumps(
            {
                "peer": p.peer,
                "received_at": p.received_at.isoformat(),
                "outcome": p.outcome,
                "error": p.error,
                "mn": p.mn,
                "cn": p.cn,
                "qn": p.qn,
                "device_id": r.device_id,
            }
        ).encode()
        chunks += [_LEN.pack(len(header)), header, _LEN.pack(len(p.data)), p.data]
    return b"".join(chunks)


def test_a_spool_of_the_earlier_format_is_read_once_and_upgraded(tmp_path: Path) -> None:
    (tmp_path / "spool.bin").write_bytes(old_format([record(n) for n in range(1, 7)]))
    (tmp_path / "spool.replayed").write_text("2")
    spool = Spool(tmp_path)
    assert list(spool.read()) == [record(n) for n in range(3, 7)]
    assert spool.replayed() == 0  # the replayed ones were left out of the upgraded spool
    assert spool.path.read_bytes().startswith(b"OFSPOOL")
    spool.mark_replayed(1)
    spool.append([record(7)])
    assert list(Spool(tmp_path).read()) == [record(n) for n in range(4, 8)]


def test_records_the_earlier_format_swallowed_after_a_torn_one_are_recovered(tmp_path: Path) -> None:
    """The bug in the field: record 3 torn, 4-6 appended after it and lost to the old reader."""
    three = old_format([record(3)])
    data = old_format([record(1), record(2)]) + three[: len(three) - 40] + old_format([record(n) for n in (4, 5, 6)])
    torn = old_format([record(7)])[:30]
    (tmp_path / "spool.bin").write_bytes(data + torn)
    (tmp_path / "spool.replayed").write_text("1")
    spool = Spool(tmp_path)
    assert list(spool.read()) == [record(n) for n in (2, 4, 5, 6)]
    assert len(quarantined(tmp_path)) == 2  # torn record 3 and torn record 7, copied aside


def test_an_empty_or_missing_spool(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "absent")
    assert len(spool) == 0
    assert list(spool.read()) == []
    spool.mark_replayed(0)
    spool.clear()
    spool.append([])
    assert not (tmp_path / "absent").exists()
    (tmp_path / "spool.bin").write_bytes(b"")
    assert len(Spool(tmp_path)) == 0
