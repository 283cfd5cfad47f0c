"""Aggregation on the database: the stored minutes → the platform's hourly and daily values.

Writing minutes notes their hours in ``pending_hour`` (``store.values.mark_pending``), whether
they are new, late, backfilled or changed. ``aggregate_pending`` recomputes each noted hour that
has ended from its minutes, then the whole China-time day around it from that day's computed
hours, and writes both to ``computed_value`` in the transaction that takes the notes. A note
rewritten while the work ran (another minute of the same hour) is left for the next run.
``aggregate_window`` does the same for every hour of a span of days (batch, or a recomputation).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar

import polars as pl
from sqlalchemy import Connection, Engine, and_, delete, func, or_, select
from sqlalchemy.orm import Session

from offsite.db import table_of
from offsite.hj212.times import CST
from offsite.quality.aggregate import Outlet as Medium
from offsite.quality.aggregate import daily, device_intervals, hourly
from offsite.quality.intervals import Interval, Key
from offsite.quality.rules import WATER_FLOW, Rules
from offsite.registry.models import Device, Outlet
from offsite.registry.standards import reference_o2
from offsite.store.models import DAY, HOUR, MINUTE, ComputedValue, PendingHour
from offsite.store.series import COMPUTED_COLUMNS, read_computed, read_interval
from offsite.store.values import ValueWriter

HOUR_SPAN = timedelta(hours=1)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Aggregated:
    hours: int = 0
    """Hourly values (device × factor × hour) computed from minutes."""
    days: int = 0
    """Daily values (device × factor × day) computed from their hours."""
    first_day: date | None = None
    last_day: date | None = None
    intervals: frozenset[tuple[str, int, str]] = frozenset()
    """(device, seconds, declared/inferred/default): the minute-data intervals hours were judged by."""

    def __add__(self, other: Aggregated) -> Aggregated:
        days = [d for d in (self.first_day, other.first_day, self.last_day, other.last_day) if d is not None]
        return Aggregated(
            self.hours + other.hours,
            self.days + other.days,
            min(days, default=None),
            max(days, default=None),
            self.intervals | other.intervals,
        )

    def intervals_line(self) -> str:
        """Devices per interval and source: "minute-data interval: 60 s inferred 12 devices; …"."""
        counts: dict[tuple[int, str], set[str]] = {}
        for device, seconds, source in self.intervals:
            counts.setdefault((seconds, source), set()).add(device)
        parts = [f"{s} s {source} {len(d)} device{'s' * (len(d) != 1)}" for (s, source), d in sorted(counts.items())]
        return "minute-data interval: " + ("; ".join(parts) or "no minutes")


def aggregate_pending(
    engine: Engine, *, now: datetime, rules: Rules | None = None, batch_devices: int = 500
) -> Aggregated:
    """Recompute every noted hour that ended by ``now``, and the days they lie in."""
    rules = rules or Rules()
    with engine.connect() as conn:
        notes = pl.DataFrame(
            conn.execute(
                select(PendingHour.device_id, PendingHour.hour, PendingHour.noted_at).where(
                    PendingHour.hour <= now - HOUR_SPAN
                )
            ).all(),
            schema={"device_id": pl.Int64, "hour": pl.Datetime("us", "UTC"), "noted_at": pl.Datetime("us", "UTC")},
            orient="row",
        )
    done = Aggregated()
    if notes.is_empty():
        return done
    notes = notes.with_columns(pl.col("hour").dt.convert_time_zone("Asia/Shanghai").dt.date().alias("day"))
    media = _media(engine)
    for (day,), of_day in notes.sort("day").group_by("day", maintain_order=True):
        assert isinstance(day, date)
        devices = of_day["device_id"].unique().sort().to_list()
        for chunk in _chunks(devices, batch_devices):
            taken = of_day.filter(pl.col("device_id").is_in(chunk))
            done += _recompute(engine, day, chunk, media=media, rules=rules, taken=taken)
    return done


def aggregate_window(
    engine: Engine,
    first: date,
    last: date,
    *,
    rules: Rules | None = None,
    device_ids: Iterable[int] | None = None,
    batch_devices: int = 500,
) -> Aggregated:
    """Recompute every hour and day of days ``first``–``last`` (China time) from the stored minutes."""
    rules = rules or Rules()
    media = _media(engine)
    devices = sorted(set(device_ids) & set(media) if device_ids is not None else media)
    done = Aggregated()
    day = first
    while day <= last:
        for chunk in _chunks(devices, batch_devices):
            done += _recompute(engine, day, chunk, media=media, rules=rules, taken=None)
        day += timedelta(days=1)
    return done


def _recompute(
    engine: Engine,
    day: date,
    devices: list[int],
    *,
    media: dict[int, Medium],
    rules: Rules,
    taken: pl.DataFrame | None,
) -> Aggregated:
    """Hours of ``devices`` on ``day`` (those ``taken`` from the notes, or all of them), then the day."""
    day_start = datetime.combine(day, time(), CST).astimezone(UTC)
    day_end = day_start + timedelta(days=1)
    start, end = day_start, day_end
    if taken is not None:
        start = _utc(taken["hour"].min())
        end = _utc(taken["hour"].max()) + HOUR_SPAN
    minutes = read_interval(engine, devices, start, end, period=MINUTE, columns=("avg", "flag"))
    minutes = minutes.with_columns(pl.col("ts").dt.truncate("1h").alias("hour"))
    if taken is not None:
        minutes = minutes.join(taken.select("device_id", "hour"), on=["device_id", "hour"], how="semi")
    outlets = {str(d): media[d] for d in devices if d in media}
    frame = minutes.filter(pl.col("device_id").is_in(list(media))).select(
        pl.col("device_id").cast(pl.String).alias("mn"),
        "factor",
        pl.col("ts").alias("time"),
        pl.col("avg").alias("value"),
        pl.col("flag").fill_null("N"),  # 2005 loggers send no flags: their minutes count as valid
    )
    used = _intervals(engine, frame, outlets, rules, start) if frame.height else {}
    new_hours = hourly(frame, outlets, rules, used) if frame.height else None
    stored = read_computed(engine, devices, day_start, day_end, period=HOUR).select(
        pl.col("device_id").cast(pl.String).alias("mn"),
        "factor",
        pl.lit("hour").alias("period"),
        pl.col("ts").dt.convert_time_zone("Asia/Shanghai").alias("time"),
        "value",
        "corrected",
        "valid",
        "n_valid",
        "standard",
        "load",
        "bound",
        "bound_corrected",
        "n_expected",
    )
    hours = stored
    if new_hours is not None:
        new_hours = new_hours.drop("q_mean").with_columns(pl.col("n_valid").cast(pl.Int64))
        hours = pl.concat([stored.join(new_hours, on=["mn", "factor", "time"], how="anti"), new_hours])
    with_flow = hours.join(
        hours.filter(pl.col("factor") == WATER_FLOW).select("mn", "time", pl.col("value").alias("q_mean")),
        on=["mn", "time"],
        how="left",
    )
    days = daily(with_flow, outlets, rules) if hours.height else None
    writer = ValueWriter()
    with engine.begin() as conn:
        written_hours = writer.computed(conn, _rows(new_hours, HOUR)) if new_hours is not None else 0
        written_days = writer.computed(conn, _rows(days, DAY)) if days is not None else 0
        if taken is not None:
            _forget(conn, taken)
    judged = frozenset((mn, i.seconds, i.source) for (mn, _), i in used.items())
    if not written_hours and not written_days:
        return Aggregated(intervals=judged)
    return Aggregated(written_hours, written_days, day, day, judged)


def _intervals(
    engine: Engine, frame: pl.DataFrame, outlets: dict[str, Medium], rules: Rules, start: datetime
) -> dict[Key, Interval]:
    """The intervals ``frame``'s hours are judged by. A few noted hours cannot say a device's
    interval alone (an hour sent on its own with two records would measure its own sparse
    spacing), so an undeclared pair judged slower than the shortest interval is also judged by
    the fullest hour computed for it in the ``Rules.inference_window_h`` before: the stricter wins.
    Only such pairs are read, so a one-minute device costs nothing more."""
    used = device_intervals(frame, outlets, rules)
    shortest = min(rules.standard_intervals_s)
    slower = {key for key, i in used.items() if i.source != "declared" and i.seconds > shortest}
    if not slower:
        return used
    fullest = _fullest(engine, slower, start - timedelta(hours=rules.inference_window_h), start)
    return device_intervals(frame, outlets, rules, fullest) if fullest else used


def _fullest(engine: Engine, pairs: set[Key], start: datetime, end: datetime) -> dict[Key, int]:
    """Per ``mn, factor`` of ``pairs``: the most valid records a computed hour held in ``start``–``end``."""
    devices = sorted({int(mn) for mn, _ in pairs})
    found: dict[Key, int] = {}
    with engine.connect() as conn:
        for chunk in _chunks(devices, 500):
            rows = conn.execute(
                select(ComputedValue.device_id, ComputedValue.factor, func.max(ComputedValue.n_valid))
                .where(
                    ComputedValue.period == HOUR,
                    ComputedValue.device_id.in_(chunk),
                    ComputedValue.ts >= start,
                    ComputedValue.ts < end,
                )
                .group_by(ComputedValue.device_id, ComputedValue.factor)
            )
            for device, factor, most in rows:
                if (str(device), factor) in pairs and most:
                    found[(str(device), factor)] = int(most)
    return found


def _rows(frame: pl.DataFrame, period: int) -> list[dict[str, object]]:
    renamed = frame.with_columns(
        pl.col("mn").cast(pl.Int64).alias("device_id"),
        pl.lit(period).alias("period"),
        pl.col("time").dt.convert_time_zone("UTC").alias("ts"),
    )
    return renamed.select("period", *COMPUTED_COLUMNS).to_dicts()


def _forget(conn: Connection, taken: pl.DataFrame) -> None:
    """Delete the notes taken, unless a writer noted the hour again meanwhile."""
    table = table_of(PendingHour)
    for chunk in _chunks(taken.select("device_id", "hour", "noted_at").rows(), 300):
        conn.execute(
            delete(table).where(
                or_(*(and_(table.c.device_id == d, table.c.hour == h, table.c.noted_at == n) for d, h, n in chunk))
            )
        )


def _media(engine: Engine) -> dict[int, Medium]:
    """Per device: its outlet's medium, reference O2 (the outlet's own, else its standard's),
    cross-section, and the device's declared minute interval and flow basis and unit."""
    with Session(engine) as session:
        rows = session.execute(
            select(
                Device.id,
                Outlet.medium,
                Outlet.o2_ref,
                Outlet.standard,
                Outlet.area_m2,
                Device.minute_interval_s,
                Device.flow_basis,
                Device.flow_unit,
            ).join(Outlet)
        ).all()
    return {
        device: Medium(medium, reference_o2(o2_ref, key), area, interval, basis, unit)
        for device, medium, o2_ref, key, area, interval, basis, unit in rows
    }


def _chunks(items: list[T], size: int) -> Iterable[list[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _utc(moment: object) -> datetime:
    assert isinstance(moment, datetime)
    return moment.astimezone(UTC)
