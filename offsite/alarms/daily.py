"""The daily values the grading reads: stored daily averages joined to outlets, units and limits.

Daily values are the devices' 2031 daily data as stored; a day counts as valid when its flag is N,
or T (above the range: a lower bound that still proves the exceedance, screening-rules.md §2), or
absent (2005 loggers send no flag). The limit is the outlet's daily limit in force that day, on the
corrected value where the limit's basis says so. Data marks come with the marks workflow; until
then no day is marked.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import polars as pl
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from offsite.hj212.times import CST
from offsite.registry.models import Device, Limit, Outlet
from offsite.store.models import DAY
from offsite.store.series import read_interval

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


def daily_values(engine: Engine, session: Session, first: date, last: date) -> pl.DataFrame:
    """Columns unit, outlet, factor, day, value, limit, valid, marked for days ``first``–``last``."""
    devices = pl.DataFrame(
        session.execute(select(Device.id, Device.outlet_id, Outlet.unit_id).join(Outlet)).all(),
        schema={"device_id": pl.Int64, "outlet": pl.Int64, "unit": pl.Int64},
        orient="row",
    )
    limits = _limits(session, first, last)
    start = datetime.combine(first, time(), CST)
    end = datetime.combine(last + timedelta(days=1), time(), CST)
    values = read_interval(
        engine, devices["device_id"].to_list(), start, end, period=DAY, columns=("avg", "zs_avg", "flag")
    )
    if values.is_empty() or limits.is_empty():
        return pl.DataFrame(schema=SCHEMA)
    return (
        values.with_columns(pl.col("ts").dt.convert_time_zone("Asia/Shanghai").dt.date().alias("day"))
        .join(devices, on="device_id")
        .join(limits, on=["outlet", "factor"])
        .filter((pl.col("day") >= pl.col("valid_from")) & (pl.col("day") <= pl.col("valid_to")))
        .with_columns(
            pl.when(pl.col("basis") == "corrected")
            .then(pl.coalesce("zs_avg", "avg"))
            .otherwise(pl.col("avg"))
            .alias("value"),
            (pl.col("flag").is_null() | pl.col("flag").is_in(VALID_FLAGS)).alias("valid"),
            pl.lit(value=False).alias("marked"),
        )
        .filter(pl.col("value").is_not_null())
        .select(SCHEMA.names())
        .cast(SCHEMA)
    )


def _limits(session: Session, first: date, last: date) -> pl.DataFrame:
    rows = session.execute(
        select(Limit.outlet_id, Limit.factor, Limit.value, Limit.basis, Limit.valid_from, Limit.valid_to).where(
            Limit.period == "day", Limit.valid_from <= last, (Limit.valid_to.is_(None)) | (Limit.valid_to >= first)
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
