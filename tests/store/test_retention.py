from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, func, select

from offsite.store import retention
from offsite.store.models import RealtimeValue
from offsite.store.partitions import existing
from offsite.store.retention import retire_realtime
from offsite.store.values import ValueWriter


def fill(engine: Engine) -> None:
    rows = []
    for day in (
        datetime(2026, 9, 30, 23, tzinfo=UTC),
        datetime(2026, 10, 15, tzinfo=UTC),
        datetime(2026, 11, 2, tzinfo=UTC),
    ):
        for second in range(0, 3600, 30):
            rows.append(
                {
                    "device_id": 1,
                    "factor": "a21026",
                    "ts": day + timedelta(seconds=second),
                    "rtd": 30.0,
                    "zs_rtd": None,
                    "flag": "N",
                    "eflag": None,
                    "raw_id": None,
                }
            )
    with engine.begin() as conn:
        ValueWriter().realtime(conn, rows)


def test_whole_old_months_go_to_parquet_and_leave_the_store(engine: Engine, tmp_path: Path) -> None:
    fill(engine)
    done = retire_realtime(engine, date(2026, 11, 10), tmp_path)
    assert [(r.month, r.rows) for r in done] == [(date(2026, 9, 1), 120), (date(2026, 10, 1), 120)]
    october = pl.read_parquet(tmp_path / "realtime_value_202610.parquet")
    assert october.height == 120
    assert october["ts"].min() == datetime(2026, 10, 15, tzinfo=UTC)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(RealtimeValue)) == 120  # November stays
        if conn.dialect.name == "postgresql":
            assert existing(conn, "realtime_value") == ["realtime_value_p202611"]
    assert retire_realtime(engine, date(2026, 11, 10), tmp_path) == []


def test_the_file_and_its_directory_reach_the_disk_before_the_month_is_dropped(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(engine)
    out = tmp_path / "retired"
    synced: list[Path] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    drops: list[tuple[date, list[Path], list[str]]] = []
    real_remove = retention._remove

    def remove(engine: Engine, month: date, start: datetime, stop: datetime) -> None:
        drops.append((month, list(synced), sorted(p.name for p in out.iterdir())))
        real_remove(engine, month, start, stop)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(retention, "_remove", remove)
    done = retire_realtime(engine, date(2026, 11, 10), out)
    assert [r.file.name for r in done] == ["realtime_value_202609.parquet", "realtime_value_202610.parquet"]
    for (month, synced_then, files_then), retired in zip(drops, done, strict=True):
        assert month == retired.month
        assert retired.file.parent.resolve() in synced_then, "the directory was not flushed before the drop"
        assert any(p.name.startswith(f".{retired.file.name}") for p in synced_then), "the file was not flushed"
        assert retired.file.name in files_then  # renamed into place before the drop
        assert not [name for name in files_then if name.endswith(".partial")]


def test_a_write_that_fails_midway_leaves_no_file_under_the_months_name_and_drops_nothing(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(engine)

    def torn(self: pl.DataFrame, file: str | Path, **kwargs: object) -> None:
        Path(file).write_bytes(b"PAR1 half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", torn)
    out = tmp_path / "retired"
    with pytest.raises(OSError, match="No space left"):
        retire_realtime(engine, date(2026, 11, 10), out)
    assert list(out.iterdir()) == []
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(RealtimeValue)) == 360


def test_a_month_retired_again_gets_a_new_file_and_the_first_is_kept(engine: Engine, tmp_path: Path) -> None:
    fill(engine)
    retire_realtime(engine, date(2026, 11, 10), tmp_path)
    first = (tmp_path / "realtime_value_202610.parquet").read_bytes()
    late = {"device_id": 2, "factor": "a21026", "rtd": 1.0, "zs_rtd": None, "flag": "N", "eflag": None, "raw_id": None}
    with engine.begin() as conn:  # a backfill after the month was retired
        ValueWriter().realtime(conn, [{**late, "ts": datetime(2026, 10, 20, tzinfo=UTC)}])
    [again] = retire_realtime(engine, date(2026, 11, 10), tmp_path)
    assert (again.month, again.rows, again.file.name) == (date(2026, 10, 1), 1, "realtime_value_202610_2.parquet")
    assert (tmp_path / "realtime_value_202610.parquet").read_bytes() == first
    assert pl.read_parquet(again.file)["device_id"].to_list() == [2]
