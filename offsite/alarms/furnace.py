"""Furnace-temperature breaches of waste incinerators (炉膛温度): a violation of its own.

MEE Order No. 10 of 2019 (生活垃圾焚烧发电厂自动监测数据应用管理规定) makes a natural day on which
the furnace temperature's 5-minute means ("炉膛内热电偶测量温度的5分钟均值", as recalled [R]) fall
below 850 ℃ more than five times a case of 未采取减少持久性有机污染物排放措施 — not an exceedance of
an emission limit. A furnace-day is judged on the thermocouples' mean (a01901), and on the DCS's
reading (a01902) only where the device sent no valid a01901 minute that day (``furnace_factors``, in
order of preference); a window's mean needs ``furnace_min_records`` valid minutes. A window an
operating-condition mark covers (工况标记: start-up, shut-down, a plant fault or accident, a stop)
does not count; a device mark (calibration, maintenance of an analyser) says nothing about the
furnace and excuses nothing. A day with too many low windows only once the marked ones are left out
is kept with ``marked`` set, as evidence, and never counted. The thresholds are settings ([R]:
recalled, configurable); whether a breach day also counts as an exceedance day in the 30-day
grading is a setting too (off by default).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import polars as pl
from sqlalchemy import Engine, delete, insert, or_, select
from sqlalchemy.orm import Session

from offsite.alarms.models import FurnaceBreach
from offsite.hj212.times import CST
from offsite.quality.markkinds import mark_kinds
from offsite.quality.marks import approved_marks
from offsite.registry.models import Device, Outlet
from offsite.settings import Settings
from offsite.store.models import MINUTE
from offsite.store.series import read_interval

BREACHES = pl.Schema(
    {
        "device_id": pl.Int64(),
        "unit": pl.Int64(),
        "outlet": pl.Int64(),
        "factor": pl.String(),
        "day": pl.Date(),
        "below": pl.Int64(),
        "lowest": pl.Float64(),
        "marked": pl.Boolean(),
    }
)
"""``below``: the day's unmarked windows below the minimum (all of them where ``marked``: the day
breaches only with the marked windows counted)."""
VALID_FLAGS = ("N",)


def furnace_breaches(
    engine: Engine, session: Session, first: date, last: date, settings: Settings, *, now: datetime | None = None
) -> pl.DataFrame:
    """The breach days of ``first``–``last`` (``BREACHES`` columns), from the stored minutes, with
    the marks in effect at ``now`` (the clock when none)."""
    devices = _devices(session, settings)
    if devices.is_empty():
        return pl.DataFrame(schema=BREACHES)
    start = datetime.combine(first, time(), CST)
    end = datetime.combine(last + timedelta(days=1), time(), CST)
    minutes = read_interval(
        engine,
        devices["device_id"].to_list(),
        start,
        end,
        period=MINUTE,
        factors=list(settings.furnace_factors),
        columns=("avg", "flag"),
    )
    valid = (pl.col("flag").is_null() | pl.col("flag").is_in(VALID_FLAGS)) & pl.col("avg").is_not_null()
    span = f"{settings.furnace_mean_minutes}m"
    day = pl.col("ts").dt.convert_time_zone("Asia/Shanghai").dt.date()
    kept = _preferred(minutes.filter(valid).with_columns(day.alias("day")), settings.furnace_factors)
    means = (
        kept.with_columns(pl.col("ts").dt.truncate(span).alias("window"))
        .group_by("device_id", "factor", "window")
        .agg(pl.col("avg").mean().alias("mean"), pl.len().alias("records"))
        .join(devices, on="device_id")
        .filter(pl.col("records") >= pl.col("needed"), pl.col("mean") < settings.furnace_min_temperature)
        .drop("records", "needed")
    )
    if means.is_empty():
        return pl.DataFrame(schema=BREACHES)
    windows = _marked(means, _marks(session, start, end, settings, now), settings.furnace_mean_minutes)
    per_day = (
        windows.with_columns(pl.col("window").dt.convert_time_zone("Asia/Shanghai").dt.date().alias("day"))
        .group_by("device_id", "unit", "outlet", "factor", "day")
        .agg(
            (~pl.col("marked")).sum().cast(pl.Int64).alias("unmarked"),
            pl.len().cast(pl.Int64).alias("all"),
            pl.col("mean").filter(~pl.col("marked")).min().alias("lowest_unmarked"),
            pl.col("mean").min().alias("lowest_all"),
        )
        .filter(pl.col("all") > settings.furnace_max_below_per_day)
        .with_columns((pl.col("unmarked") <= settings.furnace_max_below_per_day).alias("marked"))
        .with_columns(
            pl.when(pl.col("marked")).then(pl.col("all")).otherwise(pl.col("unmarked")).alias("below"),
            pl.when(pl.col("marked")).then(pl.col("lowest_all")).otherwise(pl.col("lowest_unmarked")).alias("lowest"),
        )
    )
    return per_day.select(BREACHES.names()).cast(BREACHES).sort("device_id", "day")


def _preferred(minutes: pl.DataFrame, factors: tuple[str, ...]) -> pl.DataFrame:
    """Each device-day's minutes of one code only: the first of ``factors`` it sent valid minutes
    of that day (the thermocouples' a01901 before the DCS's a01902), never both."""
    rank = pl.col("factor").replace_strict(list(factors), list(range(len(factors))), default=len(factors))
    return minutes.filter(rank == rank.min().over("device_id", "day")).drop("day")


def _devices(session: Session, settings: Settings) -> pl.DataFrame:
    """Devices registered with a furnace-temperature code (or with no factor list at all), with the
    valid minutes a window of theirs needs: ``furnace_min_records``, or all a window can hold at
    the device's declared interval where that is fewer."""
    sends = [Device.factors.contains(code) for code in settings.furnace_factors]
    rows = session.execute(
        select(Device.id, Device.outlet_id, Outlet.unit_id, Device.minute_interval_s)
        .join(Outlet)
        .where(or_(Device.factors == "", *sends))
    ).all()
    window_s = settings.furnace_mean_minutes * 60
    return pl.DataFrame(
        [
            (device, outlet, unit, min(settings.furnace_min_records, max(1, window_s // (interval or 60))))
            for device, outlet, unit, interval in rows
        ],
        schema={"device_id": pl.Int64, "outlet": pl.Int64, "unit": pl.Int64, "needed": pl.UInt32},
        orient="row",
    )


def _marks(session: Session, start: datetime, end: datetime, settings: Settings, now: datetime | None) -> pl.DataFrame:
    """The operating-condition marks in effect (a calibration of the CEMS at the outlet does not
    excuse a cold furnace), cut to the hours the caps of the outlet's standard exempt."""
    conditions = mark_kinds(settings.mark_kinds_file).condition_keys()
    found = [m for m in approved_marks(session, start, end, now=now, settings=settings) if m.kind in conditions]
    return pl.DataFrame(
        [(m.outlet_id, m.device_id, m.factor, m.start_at, m.end_at) for m in found],
        schema={
            "outlet": pl.Int64,
            "mark_device": pl.Int64,
            "mark_factor": pl.String,
            "start_at": pl.Datetime("us", "UTC"),
            "end_at": pl.Datetime("us", "UTC"),
        },
        orient="row",
    )


def _marked(means: pl.DataFrame, marks: pl.DataFrame, minutes: int) -> pl.DataFrame:
    """``means`` with ``marked``: a mark reaching the device and code overlaps the window."""
    if marks.is_empty():
        return means.with_columns(pl.lit(value=False).alias("marked"))
    covered = (
        means.join(marks, on="outlet")
        .filter(
            (pl.col("mark_device").is_null() | (pl.col("mark_device") == pl.col("device_id")))
            & (pl.col("mark_factor").is_null() | (pl.col("mark_factor") == pl.col("factor")))
            & (pl.col("window") < pl.col("end_at"))
            & (pl.col("window") + pl.duration(minutes=minutes) > pl.col("start_at"))
        )
        .select("device_id", "factor", "window")
        .unique()
        .with_columns(pl.lit(value=True).alias("marked"))
    )
    return means.join(covered, on=["device_id", "factor", "window"], how="left").with_columns(
        pl.col("marked").fill_null(value=False)
    )


def keep_furnace_breaches(session: Session, found: pl.DataFrame, first: date, last: date) -> int:
    """Replace the stored breaches of days ``first``–``last`` with ``found``."""
    session.execute(delete(FurnaceBreach).where(FurnaceBreach.day >= first, FurnaceBreach.day <= last))
    rows = [
        {
            "device_id": r["device_id"],
            "day": r["day"],
            "outlet_id": r["outlet"],
            "factor": r["factor"],
            "below": r["below"],
            "lowest": r["lowest"],
            "marked": r["marked"],
        }
        for r in found.iter_rows(named=True)
    ]
    if rows:
        session.execute(insert(FurnaceBreach), rows)
    return len(rows)


def breach_days(session: Session, first: date, last: date, settings: Settings) -> pl.DataFrame:
    """Stored unmarked breach days of ``first``–``last`` as rows of the daily frame the grading
    reads (a value below a lower bound: the lowest mean against the minimum temperature)."""
    rows = session.execute(
        select(Outlet.unit_id, FurnaceBreach.outlet_id, FurnaceBreach.factor, FurnaceBreach.day, FurnaceBreach.lowest)
        .join(Outlet, Outlet.id == FurnaceBreach.outlet_id)
        .where(FurnaceBreach.day >= first, FurnaceBreach.day <= last, FurnaceBreach.marked.is_(False))
    ).all()
    return pl.DataFrame(
        rows,
        schema={"unit": pl.Int64, "outlet": pl.Int64, "factor": pl.String, "day": pl.Date, "value": pl.Float64},
        orient="row",
    ).with_columns(
        pl.lit(None, pl.Float64).alias("limit"),
        pl.lit(settings.furnace_min_temperature, pl.Float64).alias("lower"),
        pl.lit(value=True).alias("valid"),
        pl.lit(value=False).alias("marked"),
    )
