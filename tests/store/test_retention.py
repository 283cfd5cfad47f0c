from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
from sqlalchemy import Engine, func, select

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
