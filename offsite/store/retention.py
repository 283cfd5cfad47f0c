"""Retiring old real-time values: export whole months to Parquet, check the file, then drop them.

Real-time data are the bulk of the store (hundreds of millions of values a day at a province's
scale) and are kept for ``Settings.realtime_retention_days``. A month is removed only after its
Parquet file has been written, flushed to disk (file and directory) and read back with the same
number of rows; on PostgreSQL the month's partition is detached and dropped, on SQLite its rows
are deleted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
from sqlalchemy import Engine, func, select, text

from offsite.db.base import to_micros
from offsite.db.durable import fsync_path
from offsite.db.roles import require_owner
from offsite.store.models import RealtimeValue
from offsite.store.partitions import existing, month_start, next_month, partition_name
from offsite.store.series import select_frame

COLUMNS = ("device_id", "factor", "ts", "rtd", "zs_rtd", "flag", "eflag", "raw_id")


@dataclass(frozen=True, slots=True)
class Retired:
    month: date
    rows: int
    file: Path


def retire_realtime(engine: Engine, before: date, out_dir: Path) -> list[Retired]:
    """Export and remove every whole month of real-time values that ends on or before ``before``."""
    months = _months_with_data(engine, month_start(before))
    if months:
        # before any file is written: a role that cannot drop the partitions would leave Parquet
        # files of months still in the database, and a second run would write them again
        with engine.connect() as conn:
            require_owner(conn, "realtime_value", "retiring months drops its partitions")
    out_dir.mkdir(parents=True, exist_ok=True)
    retired = []
    for month in months:
        start = datetime(month.year, month.month, 1, tzinfo=UTC)
        stop = datetime(*next_month(month).timetuple()[:3], tzinfo=UTC)
        frame = _read(engine, start, stop)
        path = _write(frame, out_dir, f"realtime_value_{month:%Y%m}")
        _remove(engine, month, start, stop)
        retired.append(Retired(month, frame.height, path))
    return retired


def _write(frame: pl.DataFrame, out_dir: Path, stem: str) -> Path:
    """Write ``frame`` durably under a name not yet taken; return the file once it is safe to drop the rows.

    The file is written under a temporary name, flushed to disk and read back, then renamed, and
    the rename flushed through the directory: a power loss leaves either no file or the whole
    one, never a partial file under the month's name. A month retired before (rows that came in
    late) gets a new file, ``…_2.parquet``, rather than replacing the one already written.
    """
    path = out_dir / f"{stem}.parquet"
    number = 1
    while path.exists():
        number += 1
        path = out_dir / f"{stem}_{number}.parquet"
    partial = out_dir / f".{path.name}.{os.getpid()}.partial"
    try:
        frame.write_parquet(partial)
        fsync_path(partial)
        if pl.scan_parquet(partial).select(pl.len()).collect().item() != frame.height:
            raise OSError(f"{path}: the written file does not hold the {frame.height} rows read; nothing was removed")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    fsync_path(out_dir)
    return path


def _months_with_data(engine: Engine, limit: date) -> list[date]:
    with engine.connect() as conn:
        first = conn.scalar(select(func.min(RealtimeValue.ts)))
    if first is None:
        return []
    months, month = [], month_start(first)
    while next_month(month) <= limit:
        months.append(month)
        month = next_month(month)
    return months


def _read(engine: Engine, start: datetime, stop: datetime) -> pl.DataFrame:
    if engine.dialect.name == "sqlite":
        where = f"ts >= {to_micros(start)} AND ts < {to_micros(stop)}"
    else:
        where = f"ts >= '{start.isoformat()}' AND ts < '{stop.isoformat()}'"
    query = f"SELECT {', '.join(COLUMNS)} FROM realtime_value WHERE {where} ORDER BY device_id, factor, ts"
    return select_frame(engine, query, COLUMNS)


def _remove(engine: Engine, month: date, start: datetime, stop: datetime) -> None:
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            name = partition_name("realtime_value", month)
            if name in existing(conn, "realtime_value"):
                conn.execute(text(f'ALTER TABLE realtime_value DETACH PARTITION "{name}"'))
                conn.execute(text(f'DROP TABLE "{name}"'))
                return
        conn.execute(RealtimeValue.__table__.delete().where(RealtimeValue.ts >= start, RealtimeValue.ts < stop))  # type: ignore[attr-defined]
