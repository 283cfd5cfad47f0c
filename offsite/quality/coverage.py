"""What an emission total covers: the days of the month with a computed daily load, and the valid
hours behind them, per unit × factor and outlet × factor, beside the days and hours the month had
(up to now when it is not over). A total summed over 3 days of 30 is a total of 3 days; a reader
must see that before comparing it with a month cap."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import polars as pl
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from offsite.hj212.times import CST
from offsite.registry.models import Device, Outlet
from offsite.store.models import DAY
from offsite.store.series import read_computed

SCHEMA = pl.Schema(
    {
        "unit": pl.Int64(),
        "outlet": pl.Int64(),
        "factor": pl.String(),
        "days_with_data": pl.Int64(),
        "hours_with_data": pl.Int64(),
    }
)


def month_span(month: date, now: datetime) -> tuple[int, int]:
    """Days and hours of the month (any day in it) over by ``now``, China time: a month not begun
    has none, a month over has all its days."""
    first = month.replace(day=1)
    after = (first + timedelta(days=32)).replace(day=1)
    start = datetime.combine(first, time(), CST)
    end = min(datetime.combine(after, time(), CST), max(start, now.astimezone(CST)))
    hours = int((end - start) / timedelta(hours=1))
    return -(-hours // 24), hours


def load_coverage(engine: Engine, session: Session, month: date) -> pl.DataFrame:
    """Per unit × factor (``outlet`` null) and outlet × factor: days of the month with a daily load
    and the valid hours of those days (a day's ``n_valid``; a load needs a valid hour)."""
    first = month.replace(day=1)
    after = (first + timedelta(days=32)).replace(day=1)
    devices = pl.DataFrame(
        session.execute(select(Device.id, Device.outlet_id, Outlet.unit_id).join(Outlet)).all(),
        schema={"device_id": pl.Int64, "outlet": pl.Int64, "unit": pl.Int64},
        orient="row",
    )
    days = read_computed(
        engine,
        devices["device_id"].to_list(),
        datetime.combine(first, time(), CST),
        datetime.combine(after, time(), CST),
        period=DAY,
    )
    loaded = days.filter(pl.col("load").is_not_null()).join(devices, on="device_id")
    per_outlet = loaded.group_by("unit", "outlet", "factor").agg(
        pl.col("ts").n_unique().cast(pl.Int64).alias("days_with_data"),
        pl.col("n_valid").sum().cast(pl.Int64).alias("hours_with_data"),
    )
    # a unit's day has data when any of its outlets has; its hours are the most any outlet had
    per_unit = (
        loaded.group_by("unit", "factor", "ts")
        .agg(pl.col("n_valid").max())
        .group_by("unit", "factor")
        .agg(
            pl.len().cast(pl.Int64).alias("days_with_data"),
            pl.col("n_valid").sum().cast(pl.Int64).alias("hours_with_data"),
        )
        .with_columns(pl.lit(None, pl.Int64).alias("outlet"))
    )
    return pl.concat([per_unit.select(SCHEMA.names()), per_outlet.select(SCHEMA.names())]).cast(SCHEMA)
