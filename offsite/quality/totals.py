"""Emission totals (排放量) from the computed daily loads, against the discharge permit's caps.

For a month: each unit × factor (and each outlet × factor that has a cap of its own) gets the
month's total, the year's total up to the month's end, and its largest day, in kg, beside the
day, month and year caps in force (许可排放量). A day over a daily cap is counted.

The totals are sums of the hourly loads that could be computed. Hours without a valid
concentration or flow add nothing: the substitution rules of HJ 75 (修约, screening-rules.md
§2.1) are not applied yet, so a unit with gaps is under-counted, never over-counted.
"""

from __future__ import annotations

from datetime import date, datetime, time

import polars as pl
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from offsite.hj212.times import CST
from offsite.registry.models import Device, Outlet, PermitCap, Unit
from offsite.store.models import DAY
from offsite.store.series import read_computed

SCOPE = ["unit", "outlet", "factor"]
SCHEMA = pl.Schema(
    {
        "unit": pl.Int64(),
        "credit_code": pl.String(),
        "unit_name": pl.String(),
        "outlet": pl.Int64(),
        "factor": pl.String(),
        "month_kg": pl.Float64(),
        "year_kg": pl.Float64(),
        "max_day_kg": pl.Float64(),
        "day_cap_kg": pl.Float64(),
        "days_over": pl.Int64(),
        "month_cap_kg": pl.Float64(),
        "year_cap_kg": pl.Float64(),
        "over": pl.Boolean(),
    }
)


def emission_totals(engine: Engine, session: Session, month: date) -> pl.DataFrame:
    """Totals for the month ``month`` (any day in it), one row per unit × factor with loads, and
    per outlet × factor where a cap is set for the outlet. ``outlet`` is null for unit rows."""
    first = month.replace(day=1)
    after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    devices = pl.DataFrame(
        session.execute(select(Device.id, Device.outlet_id, Outlet.unit_id).join(Outlet)).all(),
        schema={"device_id": pl.Int64, "outlet": pl.Int64, "unit": pl.Int64},
        orient="row",
    )
    loads = read_computed(
        engine,
        devices["device_id"].to_list(),
        datetime.combine(first.replace(month=1), time(), CST),
        datetime.combine(after, time(), CST),
        period=DAY,
    )
    daily = (
        loads.filter(pl.col("load").is_not_null())
        .join(devices, on="device_id")
        .select(
            "unit",
            "outlet",
            "factor",
            pl.col("ts").dt.convert_time_zone("Asia/Shanghai").dt.date().alias("day"),
            "load",
        )
    )
    caps = _caps(session, first, after)
    outlet_scopes = caps.filter(pl.col("outlet").is_not_null()).select("outlet", "factor").unique()
    per_unit = (
        daily.group_by("unit", "factor", "day")
        .agg(pl.col("load").sum())
        .with_columns(pl.lit(None, pl.Int64).alias("outlet"))
    )
    per_outlet = (
        daily.join(outlet_scopes, on=["outlet", "factor"], how="semi")
        .group_by("unit", "outlet", "factor", "day")
        .agg(pl.col("load").sum())
    )
    columns = ["unit", "outlet", "factor", "day", "load"]
    days = pl.concat([per_unit.select(columns), per_outlet.select(columns)])
    in_month = pl.col("day") >= first
    totals = days.group_by(SCOPE).agg(
        pl.col("load").filter(in_month).sum().alias("month_kg"),
        pl.col("load").sum().alias("year_kg"),
        pl.col("load").filter(in_month).max().alias("max_day_kg"),
    )
    wide = caps.pivot(on="period", index=SCOPE, values="amount_kg", aggregate_function="last")
    for period in ("day", "month", "year"):
        if period not in wide.columns:
            wide = wide.with_columns(pl.lit(None, pl.Float64).alias(period))
    wide = wide.rename({"day": "day_cap_kg", "month": "month_cap_kg", "year": "year_cap_kg"})
    over_days = (
        days.filter(in_month)
        .join(wide.select(*SCOPE, "day_cap_kg"), on=SCOPE, how="inner", nulls_equal=True)
        .group_by(SCOPE)
        .agg((pl.col("load") > pl.col("day_cap_kg")).sum().cast(pl.Int64).alias("days_over"))
    )
    names = pl.DataFrame(
        session.execute(select(Unit.id, Unit.credit_code, Unit.name)).all(),
        schema={"unit": pl.Int64, "credit_code": pl.String, "unit_name": pl.String},
        orient="row",
    )
    return (
        totals.join(wide, on=SCOPE, how="full", coalesce=True, nulls_equal=True)
        .join(over_days, on=SCOPE, how="left", nulls_equal=True)
        .join(names, on="unit", how="left")
        .with_columns(
            pl.col("month_kg", "year_kg").fill_null(0.0),
            pl.col("days_over").fill_null(0),
        )
        .with_columns(
            (
                (pl.col("days_over") > 0)
                | (pl.col("month_kg") > pl.col("month_cap_kg")).fill_null(value=False)
                | (pl.col("year_kg") > pl.col("year_cap_kg")).fill_null(value=False)
            ).alias("over")
        )
        .select(SCHEMA.names())
        .cast(SCHEMA)
        .sort("credit_code", "factor", "outlet", nulls_last=False)
    )


def _caps(session: Session, first: date, after: date) -> pl.DataFrame:
    """The caps in force during the month; of several for one scope and period, the latest."""
    rows = session.execute(
        select(PermitCap.unit_id, PermitCap.outlet_id, PermitCap.factor, PermitCap.period, PermitCap.amount_kg)
        .where(PermitCap.valid_from < after, PermitCap.valid_to.is_(None) | (PermitCap.valid_to >= first))
        .order_by(PermitCap.valid_from)
    ).all()
    return pl.DataFrame(
        rows,
        schema={
            "unit": pl.Int64,
            "outlet": pl.Int64,
            "factor": pl.String,
            "period": pl.String,
            "amount_kg": pl.Float64,
        },
        orient="row",
    )
