"""Power readings and camera outages from CSV: all or nothing, idempotent."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, func, insert, select

from offsite.registry.models import Camera, Outlet, PowerMeter, Region, Unit
from offsite.store.feeds import import_power, import_video
from offsite.store.models import PowerReading, VideoOutage


def registry(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(Region), [{"code": "340000", "name": "安徽省", "level": "province", "parent_code": None}])
        conn.execute(
            insert(Region),
            [
                {"code": "341300", "name": "宿州市", "level": "city", "parent_code": "340000"},
            ],
        )
        conn.execute(insert(Region), [{"code": "341302", "name": "埇桥区", "level": "county", "parent_code": "341300"}])
        conn.execute(
            insert(Unit),
            [
                {
                    "id": 1,
                    "credit_code": "X" * 18,
                    "name": "u",
                    "industry_code": "C3011",
                    "region_code": "341302",
                    "supervision_level": "provincial",
                    "status": "producing",
                }
            ],
        )
        conn.execute(insert(Outlet), [{"id": 1, "unit_id": 1, "code": "DA001", "name": "o", "medium": "gas"}])
        conn.execute(
            insert(PowerMeter),
            [{"unit_id": 1, "code": "M-TREAT", "target": "treatment", "name": "脱硫", "rated_kw": 300}],
        )
        conn.execute(
            insert(Camera),
            [
                {
                    "unit_id": 1,
                    "outlet_id": 1,
                    "target": "station_room",
                    "name": "站房",
                    "platform": "hik",
                    "channel_id": "ch7",
                }
            ],
        )


def run(engine: Engine, action, path: Path):  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        report = action(conn, path)
        if not report.ok:
            conn.rollback()
    return report


def test_power_readings(engine: Engine, tmp_path: Path) -> None:
    registry(engine)
    path = tmp_path / "power.csv"
    path.write_text("meter,time,kw\nM-TREAT,2026-11-29T10:00:00+08:00,251.5\nM-TREAT,2026-11-29T10:01:00+08:00,0\n")
    assert (run(engine, import_power, path).created, run(engine, import_power, path).unchanged) == (2, 2)
    path.write_text("meter,time,kw\nM-TREAT,2026-11-29T10:01:00+08:00,12.5\n")
    assert run(engine, import_power, path).updated == 1
    with engine.connect() as conn:
        rows = conn.execute(select(PowerReading.ts, PowerReading.kw).order_by(PowerReading.ts)).all()
    assert rows == [(datetime(2026, 11, 29, 2, 0, tzinfo=UTC), 251.5), (datetime(2026, 11, 29, 2, 1, tzinfo=UTC), 12.5)]


def test_bad_power_rows_change_nothing(engine: Engine, tmp_path: Path) -> None:
    registry(engine)
    path = tmp_path / "power.csv"
    path.write_text(
        "meter,time,kw\n"
        "M-TREAT,2026-11-29T10:00:00+08:00,1\n"
        "NOPE,2026-11-29T10:00:00+08:00,1\n"
        "M-TREAT,2026-11-29 10:00:00,1\n"
        "M-TREAT,2026-11-29T10:02:00+08:00,abc\n"
        "M-TREAT,2026-11-29T10:03:00+08:00,-5\n"
    )
    report = run(engine, import_power, path)
    assert [(e.row, e.column) for e in report.errors] == [(3, "meter"), (4, "time"), (5, "kw"), (6, "kw")]
    assert "has no offset" in str(report.errors[1])
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(PowerReading)) == 0


def test_video_outages(engine: Engine, tmp_path: Path) -> None:
    registry(engine)
    path = tmp_path / "video.csv"
    path.write_text("platform,channel_id,start,end\nhik,ch7,2026-11-29T10:14:00+08:00,2026-11-29T10:29:00+08:00\n")
    assert run(engine, import_video, path).created == 1
    assert run(engine, import_video, path).unchanged == 1
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "platform,channel_id,start,end\nhik,ch9,2026-11-29T10:14:00+08:00,2026-11-29T10:29:00+08:00\n"
        "hik,ch7,2026-11-29T11:00:00+08:00,2026-11-29T10:00:00+08:00\n"
    )
    report = run(engine, import_video, bad)
    assert [(e.row, e.column) for e in report.errors] == [(2, "channel_id"), (3, "end")]
    missing = tmp_path / "missing.csv"
    missing.write_text("platform,start,end\n")
    assert "missing columns" in str(run(engine, import_video, missing).errors[0])
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(VideoOutage)) == 1
