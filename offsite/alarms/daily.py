"""The daily values the grading reads: stored daily averages joined to outlets, units and limits.

Daily (and hourly) values are the platform's own, computed from the stored minutes by
``offsite.quality`` (``computed_value``), where they exist; otherwise the devices' 2031 (2061) data
as stored, for devices that send no minutes. A device's value counts as valid when its flag is N,
or T (above the range: a lower bound that still proves the exceedance, screening-rules.md §2), or
absent (2005 loggers send no flag). The limit is the outlet's daily limit in force that day, on the
corrected value where the limit's basis says so. A day an approved data mark touches is judged on
its unmarked hours (``_apply_marks``).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import polars as pl
from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.orm import Session

from offsite.alarms.models import HourExceedance
from offsite.hj212.times import CST
from offsite.quality.marks import approved_marks
from offsite.quality.rules import Rules
from offsite.registry.models import Device, Limit, Outlet
from offsite.store.models import DAY, HOUR
from offsite.store.series import read_computed, read_interval

VALID_FLAGS = ("N", "T")
SCHEMA = pl.Schema(
    {
        "unit": pl.Int64(),
        "outlet": pl.Int64(),
        "factor": pl.String(),
        "day": pl.Date(),
        "value": pl.Float64(),
        "limit": pl.Float64(),
        "valid": pl.Boolean(),
        "marked": pl.Boolean(),
    }
)


def daily_values(
    engine: Engine, session: Session, first: date, last: date, *, min_hours: int = Rules().min_valid_hours
) -> pl.DataFrame:
    """Columns unit, outlet, factor, day, value, limit, valid, marked for days ``first``–``last``."""
    devices = pl.DataFrame(
        session.execute(select(Device.id, Device.outlet_id, Outlet.unit_id).join(Outlet)).all(),
        schema={"device_id": pl.Int64, "outlet": pl.Int64, "unit": pl.Int64},
        orient="row",
    )
    limits = _limits(session, first, last)
    start = datetime.combine(first, time(), CST)
    end = datetime.combine(last + timedelta(days=1), time(), CST)
    values = _values(engine, devices["device_id"].to_list(), start, end, period=DAY)
    if values.is_empty() or limits.is_empty():
        return pl.DataFrame(schema=SCHEMA)
    judged = (
        _against_limits(values, devices, limits)
        .with_columns(
            (pl.col("flag").is_null() | pl.col("flag").is_in(VALID_FLAGS)).alias("valid"),
            pl.lit(value=False).alias("marked"),
        )
        .filter(pl.col("value").is_not_null())
        .select(SCHEMA.names())
        .cast(SCHEMA)
    )
    marks = _marks(session, start, end)
    if marks.is_empty():
        return judged
    return _apply_marks(engine, judged, marks, devices=devices, limits=limits, min_hours=min_hours)


def _values(engine: Engine, device_ids: list[int], start: datetime, end: datetime, *, period: int) -> pl.DataFrame:
    """``device_id, factor, ts, avg, zs_avg, flag``: the computed values, and the devices' own where
    none was computed. A computed value's flag is N when valid; T where over-range readings give
    it a lower bound (it is then judged at the higher of value and bound, so a capped range cannot
    hide an exceedance); ``I`` (not valid) otherwise."""
    bounded = pl.col("bound").is_not_null()
    computed = read_computed(engine, device_ids, start, end, period=period).select(
        "device_id",
        "factor",
        "ts",
        pl.max_horizontal("value", "bound").alias("avg"),
        pl.max_horizontal("corrected", "bound_corrected").alias("zs_avg"),
        pl.when(pl.col("valid")).then(pl.lit("N")).when(bounded).then(pl.lit("T")).otherwise(pl.lit("I")).alias("flag"),
    )
    sent = read_interval(engine, device_ids, start, end, period=period, columns=("avg", "zs_avg", "flag"))
    if computed.is_empty():
        return sent
    return pl.concat([computed, sent.join(computed, on=["device_id", "factor", "ts"], how="anti")])


def hour_values(engine: Engine, device_ids: list[int], start: datetime, end: datetime) -> pl.DataFrame:
    """Hourly ``device_id, factor, ts, avg, zs_avg, flag``: computed where there are, else the devices'."""
    return _values(engine, device_ids, start, end, period=HOUR)


def _against_limits(values: pl.DataFrame, devices: pl.DataFrame, limits: pl.DataFrame) -> pl.DataFrame:
    """Stored values with their China day, outlet and unit, and the limit in force that day;
    ``value`` is the corrected or the measured one, as the limit's basis says."""
    return (
        values.with_columns(pl.col("ts").dt.convert_time_zone("Asia/Shanghai").dt.date().alias("day"))
        .join(devices, on="device_id")
        .join(limits, on=["outlet", "factor"])
        .filter((pl.col("day") >= pl.col("valid_from")) & (pl.col("day") <= pl.col("valid_to")))
        .with_columns(
            pl.when(pl.col("basis") == "corrected")
            .then(pl.coalesce("zs_avg", "avg"))
            .otherwise(pl.col("avg"))
            .alias("value")
        )
    )


def _marks(session: Session, start: datetime, end: datetime) -> pl.DataFrame:
    return pl.DataFrame(
        [(m.outlet_id, m.start_at, m.end_at) for m in approved_marks(session, start, end)],
        schema={"outlet": pl.Int64, "start_at": pl.Datetime("us", "UTC"), "end_at": pl.Datetime("us", "UTC")},
        orient="row",
    )


def _apply_marks(
    engine: Engine,
    judged: pl.DataFrame,
    marks: pl.DataFrame,
    *,
    devices: pl.DataFrame,
    limits: pl.DataFrame,
    min_hours: int,
) -> pl.DataFrame:
    """Days an approved mark touches are judged on their unmarked hours: the stored hourly values
    outside every mark, averaged again; with fewer than ``min_hours`` of them the day is marked."""
    touched = devices.join(marks.select("outlet").unique(), on="outlet")
    start, end = marks["start_at"].min(), marks["end_at"].max()
    assert isinstance(start, datetime)
    assert isinstance(end, datetime)
    first = start.astimezone(CST).date()
    hours = _values(
        engine,
        touched["device_id"].to_list(),
        datetime.combine(first, time(), CST),
        datetime.combine(end.astimezone(CST).date() + timedelta(days=1), time(), CST),
        period=HOUR,
    )
    hour_key = ["device_id", "factor", "ts"]
    inside = (
        hours.join(touched, on="device_id")
        .join(marks, on="outlet")
        .filter((pl.col("ts") < pl.col("end_at")) & (pl.col("ts") + pl.duration(hours=1) > pl.col("start_at")))
        .select(hour_key)
        .unique()
    )
    unmarked = (
        _against_limits(hours.join(inside, on=hour_key, how="anti"), touched, limits)
        .filter(pl.col("flag").is_null() | pl.col("flag").is_in(VALID_FLAGS))
        .group_by("outlet", "factor", "day")
        .agg(pl.col("value").mean().alias("remade"), pl.col("value").count().alias("n"))
    )
    days = (
        marks.with_columns(
            pl.date_ranges(
                pl.col("start_at").dt.convert_time_zone("Asia/Shanghai").dt.date(),
                (pl.col("end_at") - pl.duration(microseconds=1)).dt.convert_time_zone("Asia/Shanghai").dt.date(),
            ).alias("day")
        )
        .explode("day")
        .select("outlet", "day")
        .unique()
        .with_columns(pl.lit(value=True).alias("touched"))
    )
    return (
        judged.join(days, on=["outlet", "day"], how="left")
        .join(unmarked, on=["outlet", "factor", "day"], how="left")
        .with_columns(
            pl.when(pl.col("touched")).then(pl.col("remade")).otherwise(pl.col("value")).alias("value"),
            pl.when(pl.col("touched"))
            .then(pl.col("n").fill_null(0) < min_hours)
            .otherwise(pl.col("marked"))
            .alias("marked"),
        )
        .select(SCHEMA.names())
        .cast(SCHEMA)
    )


def hourly_exceedances(engine: Engine, session: Session, first: date, last: date) -> pl.DataFrame:
    """Valid stored hourly values above an hourly limit (where a standard sets one), days
    ``first``–``last``: unit, outlet, factor, ts (UTC), value, limit, marked. Kept as evidence;
    the grading itself is on daily values."""
    devices = pl.DataFrame(
        session.execute(select(Device.id, Device.outlet_id, Outlet.unit_id).join(Outlet)).all(),
        schema={"device_id": pl.Int64, "outlet": pl.Int64, "unit": pl.Int64},
        orient="row",
    )
    limits = _limits(session, first, last, period="hour")
    schema = pl.Schema(
        {
            "unit": pl.Int64(),
            "outlet": pl.Int64(),
            "factor": pl.String(),
            "ts": pl.Datetime("us", "UTC"),
            "value": pl.Float64(),
            "limit": pl.Float64(),
            "marked": pl.Boolean(),
        }
    )
    if limits.is_empty():
        return pl.DataFrame(schema=schema)
    start = datetime.combine(first, time(), CST)
    end = datetime.combine(last + timedelta(days=1), time(), CST)
    devices = devices.join(limits.select("outlet").unique(), on="outlet")
    hours = _values(engine, devices["device_id"].to_list(), start, end, period=HOUR)
    over = (
        _against_limits(hours, devices, limits)
        .filter(pl.col("flag").is_null() | pl.col("flag").is_in(VALID_FLAGS))
        .filter(pl.col("value") > pl.col("limit"))
    )
    marks = _marks(session, start, end)
    inside = (
        over.join(marks, on="outlet")
        .filter((pl.col("ts") < pl.col("end_at")) & (pl.col("ts") + pl.duration(hours=1) > pl.col("start_at")))
        .select("outlet", "factor", "ts")
        .unique()
        .with_columns(pl.lit(value=True).alias("marked"))
    )
    return (
        over.join(inside, on=["outlet", "factor", "ts"], how="left")
        .with_columns(pl.col("marked").fill_null(value=False))
        .select(schema.names())
        .cast(schema)
        .sort("outlet", "factor", "ts")
    )


def _limits(session: Session, first: date, last: date, period: str = "day") -> pl.DataFrame:
    rows = session.execute(
        select(Limit.outlet_id, Limit.factor, Limit.value, Limit.basis, Limit.valid_from, Limit.valid_to).where(
            Limit.period == period, Limit.valid_from <= last, (Limit.valid_to.is_(None)) | (Limit.valid_to >= first)
        )
    ).all()
    return pl.DataFrame(
        [(o, f, v, b, start, end or date.max) for o, f, v, b, start, end in rows],
        schema={
            "outlet": pl.Int64,
            "factor": pl.String,
            "limit": pl.Float64,
            "basis": pl.String,
            "valid_from": pl.Date,
            "valid_to": pl.Date,
        },
        orient="row",
    )


def keep_hourly_exceedances(session: Session, found: pl.DataFrame, first: date, last: date) -> int:
    """Replace the evidence of days ``first``–``last`` with ``found`` (a recomputation may drop
    hours a corrected limit no longer exceeds, or mark hours a late mark covers)."""
    start = datetime.combine(first, time(), CST)
    end = datetime.combine(last + timedelta(days=1), time(), CST)
    session.execute(delete(HourExceedance).where(HourExceedance.ts >= start, HourExceedance.ts < end))
    rows = [
        {
            "outlet_id": r["outlet"],
            "factor": r["factor"],
            "ts": r["ts"],
            "value": r["value"],
            "limit": r["limit"],
            "marked": r["marked"],
        }
        for r in found.iter_rows(named=True)
    ]
    if rows:
        session.execute(insert(HourExceedance), rows)
    return len(rows)
