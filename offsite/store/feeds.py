"""Series fed from outside HJ 212: power meters (用电监控) and camera outages (视频监控), as CSV.

``power``: ``meter,time,kw`` — the meter's code in the registry, an ISO 8601 time with its offset,
the power in kW. ``video``: ``platform,channel_id,start,end`` — a window in which that camera was
offline. Both are all or nothing: a file with a bad row changes nothing and the report names
every bad row; importing the same file again changes nothing.
"""

from __future__ import annotations

import csv
import io
import math
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from offsite.db import table_of
from offsite.registry.errors import ImportReport, RowError
from offsite.registry.models import Camera, Device, PowerMeter
from offsite.store.models import ComparisonTest, PowerReading, VideoOutage
from offsite.store.partitions import Partitions, month_start

POWER_COLUMNS = ("meter", "time", "kw")
COMPARISON_COLUMNS = ("mn", "factor", "time", "reference", "online", "source")
VIDEO_COLUMNS = ("platform", "channel_id", "start", "end")


class FeedError(ValueError):
    """The file cannot be read as a feed CSV."""


def import_power(conn: Connection, path: Path, partitions: Partitions | None = None) -> ImportReport:
    report = ImportReport(path.name)
    rows = _read(path, POWER_COLUMNS, report)
    meters = dict(conn.execute(select(PowerMeter.code, PowerMeter.id)).all())
    readings: dict[tuple[int, datetime], dict[str, Any]] = {}
    for number, row in rows:
        meter_id = meters.get(row["meter"])
        if meter_id is None:
            report.errors.append(RowError(number, "meter", f"no power meter {row['meter']!r} in the registry", "power"))
            continue
        ts = _time(report, number, "time", row["time"])
        kw = _number(report, number, "kw", row["kw"])
        if ts is None or kw is None:
            continue
        if kw < 0:
            report.errors.append(RowError(number, "kw", f"{kw} kW is negative", "power"))
            continue
        readings[(meter_id, ts)] = {"meter_id": meter_id, "ts": ts, "kw": kw}
    if report.errors:
        return report
    table = table_of(PowerReading)
    (partitions or Partitions()).ensure(conn, table.name, {month_start(ts) for _, ts in readings})
    _count(report, _existing_power(conn, readings), {k: r["kw"] for k, r in readings.items()})
    if readings:
        stmt = _insert(conn, table)
        conn.execute(
            stmt.on_conflict_do_update(index_elements=["meter_id", "ts"], set_={"kw": stmt.excluded.kw}),
            list(readings.values()),
        )
    return report


def import_video(conn: Connection, path: Path) -> ImportReport:
    report = ImportReport(path.name)
    rows = _read(path, VIDEO_COLUMNS, report)
    cameras = {(p, c): i for p, c, i in conn.execute(select(Camera.platform, Camera.channel_id, Camera.id)).all()}
    windows: dict[tuple[int, datetime], dict[str, Any]] = {}
    for number, row in rows:
        camera_id = cameras.get((row["platform"], row["channel_id"]))
        if camera_id is None:
            reason = f"no camera {row['platform']}/{row['channel_id']} in the registry"
            report.errors.append(RowError(number, "channel_id", reason, "video"))
            continue
        start = _time(report, number, "start", row["start"])
        end = _time(report, number, "end", row["end"])
        if start is None or end is None:
            continue
        if end <= start:
            report.errors.append(RowError(number, "end", f"ends {row['end']} before it starts {row['start']}", "video"))
            continue
        windows[(camera_id, start)] = {"camera_id": camera_id, "start": start, "end": end, "source": path.name}
    if report.errors:
        return report
    existing = {
        (c, s): e for c, s, e in conn.execute(select(VideoOutage.camera_id, VideoOutage.start, VideoOutage.end)).all()
    }
    _count(report, existing, {k: w["end"] for k, w in windows.items()})
    if windows:
        table = table_of(VideoOutage)
        stmt = _insert(conn, table)
        conn.execute(
            stmt.on_conflict_do_update(index_elements=["camera_id", "start"], set_={"end": stmt.excluded.end}),
            list(windows.values()),
        )
    return report


def import_comparisons(conn: Connection, path: Path) -> ImportReport:
    """Comparison tests: ``mn,factor,time,reference,online,source`` (a reference measurement and the
    analyser's value at that moment)."""
    report = ImportReport(path.name)
    rows = _read(path, COMPARISON_COLUMNS, report)
    devices = dict(conn.execute(select(Device.mn, Device.id)).all())
    tests: dict[tuple[int, str, datetime], dict[str, Any]] = {}
    for number, row in rows:
        device_id = devices.get(row["mn"])
        if device_id is None:
            report.errors.append(RowError(number, "mn", f"no device {row['mn']!r} in the registry", "comparisons"))
            continue
        at = _time(report, number, "time", row["time"])
        reference = _number(report, number, "reference", row["reference"])
        online = _number(report, number, "online", row["online"])
        if at is None or reference is None or online is None:
            continue
        if not row["factor"].strip() or not row["source"].strip():
            report.errors.append(RowError(number, "factor", "factor and source are required", "comparisons"))
            continue
        tests[(device_id, row["factor"], at)] = {
            "device_id": device_id,
            "factor": row["factor"],
            "at": at,
            "reference": reference,
            "online": online,
            "source": row["source"],
        }
    if report.errors:
        return report
    existing = {
        (d, f, a): (r, o)
        for d, f, a, r, o in conn.execute(
            select(
                ComparisonTest.device_id,
                ComparisonTest.factor,
                ComparisonTest.at,
                ComparisonTest.reference,
                ComparisonTest.online,
            )
        )
    }
    _count(report, existing, {k: (t["reference"], t["online"]) for k, t in tests.items()})
    if tests:
        stmt = _insert(conn, table_of(ComparisonTest))
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["device_id", "factor", "at"],
                set_={c: stmt.excluded[c] for c in ("reference", "online", "source")},
            ),
            list(tests.values()),
        )
    return report


def _count(report: ImportReport, existing: dict[Any, Any], incoming: dict[Any, Any]) -> None:
    """Tally what the import creates, changes and leaves as it was."""
    for key, value in incoming.items():
        if key not in existing:
            report.created += 1
        elif existing[key] != value:
            report.updated += 1
        else:
            report.unchanged += 1


def _read(path: Path, columns: tuple[str, ...], report: ImportReport) -> list[tuple[int, dict[str, str]]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FeedError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("gb18030", errors="strict")
    reader = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(reader, [])]
    missing = [c for c in columns if c not in header]
    if missing:
        report.errors.append(RowError(1, ",".join(missing), f"missing columns; the header must be {','.join(columns)}"))
        return []
    index = {c: header.index(c) for c in columns}
    rows = []
    for number, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) < len(header):
            report.errors.append(
                RowError(number, header[len(cells)], f"row has {len(cells)} cells, the header {len(header)}")
            )
            continue
        rows.append((number, {c: cells[i].strip() for c, i in index.items()}))
    return rows


def _time(report: ImportReport, number: int, column: str, text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        report.errors.append(RowError(number, column, f"{text!r} is not an ISO 8601 time"))
        return None
    if moment.tzinfo is None:
        report.errors.append(RowError(number, column, f"{text!r} has no offset (write e.g. 2026-11-29T10:00:00+08:00)"))
        return None
    return moment


def _number(report: ImportReport, number: int, column: str, text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        report.errors.append(RowError(number, column, f"{text!r} is not a number"))
        return None
    return value


def _existing_power(
    conn: Connection, readings: dict[tuple[int, datetime], dict[str, Any]]
) -> dict[tuple[int, datetime], float]:
    if not readings:
        return {}
    meter_ids = {m for m, _ in readings}
    start, end = min(t for _, t in readings), max(t for _, t in readings)
    rows = conn.execute(
        select(PowerReading.meter_id, PowerReading.ts, PowerReading.kw).where(
            PowerReading.meter_id.in_(meter_ids), PowerReading.ts >= start, PowerReading.ts <= end
        )
    ).all()
    return {(m, t): kw for m, t, kw in rows}


def _insert(conn: Connection, table: Table) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)
