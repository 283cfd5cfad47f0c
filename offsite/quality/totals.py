"""Emission totals (排放量) from the computed daily loads, against the discharge permit's caps.

For a month: each unit × factor (and each outlet × factor that has a cap of its own) gets the
month's total, the year's total up to the month's end, and its largest day, in kg, beside the
day, month and year caps in force (许可排放量). A day over a daily cap is counted.

The totals are sums of hourly loads. An hour whose load is missing or invalid (no record, too
few valid records, no flow) between two valid hours is substituted as ``Rules.substitution``
says (HJ 75-2017 §12.4 as digested in screening-rules.md §2.1 [R]: the mean of the valid hours
just before and after a gap of up to ``substitution_max_gap_h`` hours, else the largest valid hour
of the ``substitution_lookback_h`` valid hours before it). ``hourly_loads`` marks each hour
``valid``, ``substituted``, ``stopped`` or ``missing`` (before the first or after the last valid
hour, or no rule applies); each total says how many hours of each it covers and whether it holds
substitutions. Days with no computed hours (daily values only) count by their daily load.

Substitution covers the hours a CEMS gave no valid data *while the source discharged* (HJ 75-2017
§12.4 as digested [R]): an hour the plant was stopped discharged nothing. An hour without a valid
load is ``stopped`` (0 kg, never substituted) under a stop mark in effect (kinds with ``stop =
true`` in ``quality.markkinds``; approved, or also pending with ``mark_takes_effect = "filed"``)
covering the device and factor, while its unit is declared stopped or closed (``Unit.status``), or
when its device measured a valid zero flow that hour. A valid measured hour stays measured even
under a stop mark: a measured discharge is not erased (screening's R16 raises the contradiction).
"""

from __future__ import annotations

from datetime import date, datetime, time

import polars as pl
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from offsite.hj212.times import CST
from offsite.quality.markkinds import mark_kinds
from offsite.quality.marks import DataMark, states_in_effect
from offsite.quality.rules import GAS_FLOW, WATER_FLOW, Rules
from offsite.registry.models import Device, Outlet, PermitCap, Unit
from offsite.settings import get_settings
from offsite.store.models import DAY, HOUR
from offsite.store.series import read_computed

CHINA = "Asia/Shanghai"
SUBSTITUTIONS = ("adjacent_mean", "previous_max", "none")
SCOPE = ["unit", "outlet", "factor"]
VALID, SUBSTITUTED, STOPPED, MISSING = "valid", "substituted", "stopped", "missing"
STOPPED_UNIT = frozenset({"stopped", "closed"})
"""``Unit.status`` values that declare a shut-down (as ``quality.rates`` reads them)."""
STOP_SCHEMA = pl.Schema(
    {"device_id": pl.Int64(), "factor": pl.String(), "start": pl.Datetime("us", "UTC"), "end": pl.Datetime("us", "UTC")}
)
"""Stop windows: ``factor`` null covers every factor of the device."""
HOUR_SCHEMA = pl.Schema(
    {
        "device_id": pl.Int64(),
        "factor": pl.String(),
        "ts": pl.Datetime("us", "UTC"),
        "load": pl.Float64(),
        "measured": pl.Float64(),
        "status": pl.String(),
        "substituted": pl.Boolean(),
    }
)
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
        "measured_month_kg": pl.Float64(),
        "hours_valid": pl.Int64(),
        "hours_substituted": pl.Int64(),
        "hours_missing": pl.Int64(),
        "substituted": pl.Boolean(),
        "hours_stopped": pl.Int64(),
    }
)
"""Columns after ``over`` were added for what a total covers: the month without substitutions,
and its hours valid, substituted and missing; ``substituted``: the month holds substitutions;
``hours_stopped``: hours the plant was stopped (0 kg, not substituted)."""


def emission_totals(
    engine: Engine, session: Session, month: date, rules: Rules | None = None, *, takes_effect: str | None = None
) -> pl.DataFrame:
    """Totals for the month ``month`` (any day in it), one row per unit × factor with loads, and
    per outlet × factor where a cap is set for the outlet. ``outlet`` is null for unit rows.
    ``takes_effect``: which marks are in effect (the ``mark_takes_effect`` setting by default)."""
    rules = rules or Rules()
    first = month.replace(day=1)
    after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    devices = pl.DataFrame(
        session.execute(select(Device.id, Device.outlet_id, Outlet.unit_id).join(Outlet)).all(),
        schema={"device_id": pl.Int64, "outlet": pl.Int64, "unit": pl.Int64},
        orient="row",
    )
    ids = devices["device_id"].to_list()
    year_start = datetime.combine(first.replace(month=1), time(), CST)
    month_end = datetime.combine(after, time(), CST)
    hours = hourly_loads(engine, ids, year_start, month_end, rules, takes_effect=takes_effect)
    per_day = (
        hours.with_columns(_china_day("ts"))
        .group_by("device_id", "factor", "day")
        .agg(
            pl.col("load").sum(),
            pl.col("measured").sum(),
            (pl.col("status") == VALID).sum().cast(pl.Int64).alias("hours_valid"),
            (pl.col("status") == SUBSTITUTED).sum().cast(pl.Int64).alias("hours_substituted"),
            (pl.col("status") == MISSING).sum().cast(pl.Int64).alias("hours_missing"),
            (pl.col("status") == STOPPED).sum().cast(pl.Int64).alias("hours_stopped"),
        )
    )
    stored_days = read_computed(engine, ids, year_start, month_end, period=DAY)
    only_daily = (
        stored_days.filter(pl.col("load").is_not_null())
        .select("device_id", "factor", _china_day("ts"), "load", pl.col("load").alias("measured"))
        .join(per_day.select("device_id", "factor", "day"), on=["device_id", "factor", "day"], how="anti")
        .with_columns(pl.lit(None, pl.Int64).alias(c) for c in DAY_SUMS[2:])
    )
    daily = (
        pl.concat([per_day, only_daily.select(per_day.columns)])
        .join(devices, on="device_id")
        .select("unit", "outlet", "factor", "day", *DAY_SUMS)
    )
    caps = _caps(session, first, after)
    outlet_scopes = caps.filter(pl.col("outlet").is_not_null()).select("outlet", "factor").unique()
    sums = [pl.col(c).sum() for c in DAY_SUMS]
    per_unit = daily.group_by("unit", "factor", "day").agg(*sums).with_columns(pl.lit(None, pl.Int64).alias("outlet"))
    per_outlet = (
        daily.join(outlet_scopes, on=["outlet", "factor"], how="semi")
        .group_by("unit", "outlet", "factor", "day")
        .agg(*sums)
    )
    columns = ["unit", "outlet", "factor", "day", *DAY_SUMS]
    days = pl.concat([per_unit.select(columns), per_outlet.select(columns)])
    in_month = pl.col("day") >= first
    totals = days.group_by(SCOPE).agg(
        pl.col("load").filter(in_month).sum().alias("month_kg"),
        pl.col("load").sum().alias("year_kg"),
        pl.col("load").filter(in_month).max().alias("max_day_kg"),
        pl.col("measured").filter(in_month).sum().alias("measured_month_kg"),
        *(pl.col(c).filter(in_month).sum().alias(c) for c in DAY_SUMS[2:]),
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
            pl.col("month_kg", "year_kg", "measured_month_kg").fill_null(0.0),
            pl.col("days_over", *DAY_SUMS[2:]).fill_null(0),
        )
        .with_columns(
            (
                (pl.col("days_over") > 0)
                | (pl.col("month_kg") > pl.col("month_cap_kg")).fill_null(value=False)
                | (pl.col("year_kg") > pl.col("year_cap_kg")).fill_null(value=False)
            ).alias("over"),
            (pl.col("hours_substituted") > 0).alias("substituted"),
        )
        .select(SCHEMA.names())
        .cast(SCHEMA)
        .sort("credit_code", "factor", "outlet", nulls_last=False)
    )


DAY_SUMS = ("load", "measured", "hours_valid", "hours_substituted", "hours_missing", "hours_stopped")


def _china_day(column: str) -> pl.Expr:
    return pl.col(column).dt.convert_time_zone(CHINA).dt.date().alias("day")


def hourly_loads(
    engine: Engine,
    device_ids: list[int],
    start: datetime,
    end: datetime,
    rules: Rules | None = None,
    *,
    takes_effect: str | None = None,
) -> pl.DataFrame:
    """Every hour of each device × factor with loads, from its first to its last computed hour in
    ``start``–``end``: ``measured`` the load of a valid hour (valid concentration and a load),
    ``load`` that, 0 for a stopped hour, or the substitute; ``status`` valid, substituted,
    stopped or missing."""
    rules = rules or Rules()
    stored = read_computed(engine, device_ids, start, end, period=HOUR).select(
        "device_id", "factor", "ts", "value", "load", "valid"
    )
    with Session(engine) as session:
        stops = stop_windows(session, device_ids, start, end, takes_effect or get_settings().mark_takes_effect)
    return substitute(stored, rules, stops)


def stop_windows(
    session: Session, device_ids: list[int], start: datetime, end: datetime, takes_effect: str
) -> pl.DataFrame:
    """The windows in ``start``–``end`` each device was stopped: stop marks in effect (on its
    outlet, the device, or one factor of it) and the whole span where its unit is declared stopped."""
    devices = session.execute(
        select(Device.id, Device.outlet_id, Unit.status)
        .join(Outlet, Outlet.id == Device.outlet_id)
        .join(Unit, Unit.id == Outlet.unit_id)
        .where(Device.id.in_(device_ids))
    ).all()
    rows: list[tuple[int, str | None, datetime, datetime]] = [
        (d, None, start, end) for d, _, status in devices if status in STOPPED_UNIT
    ]
    by_outlet: dict[int, list[int]] = {}
    for device, outlet, _ in devices:
        by_outlet.setdefault(outlet, []).append(device)
    marks = session.execute(
        select(DataMark.outlet_id, DataMark.device_id, DataMark.factor, DataMark.start_at, DataMark.end_at).where(
            DataMark.state.in_(states_in_effect(takes_effect)),
            DataMark.kind.in_(mark_kinds().stop_keys()),
            DataMark.start_at < end,
            DataMark.end_at > start,
        )
    ).all()
    for outlet, marked, factor, mark_start, mark_end in marks:
        covered: list[int] = [marked] if marked is not None else by_outlet.get(outlet, [])
        rows += [(d, factor, mark_start, mark_end) for d in covered]
    return pl.DataFrame(rows, schema=STOP_SCHEMA, orient="row")


def substitute(hours: pl.DataFrame, rules: Rules, stops: pl.DataFrame | None = None) -> pl.DataFrame:
    """The substitution itself, on ``device_id, factor, ts, load, valid`` hour rows (with ``value``,
    a valid zero flow stops its device's hour); ``stops``: windows the plant was stopped
    (``STOP_SCHEMA``)."""
    if rules.substitution not in SUBSTITUTIONS:
        raise ValueError(f"substitution {rules.substitution!r} is not one of {', '.join(SUBSTITUTIONS)}")
    pair = ["device_id", "factor"]
    with_loads = hours.filter(pl.col("load").is_not_null().any().over(pair))
    if with_loads.is_empty():
        return pl.DataFrame(schema=HOUR_SCHEMA)
    grid = (
        with_loads.group_by(pair)
        .agg(pl.datetime_ranges(pl.col("ts").min(), pl.col("ts").max(), "1h").first().alias("ts"))
        .explode("ts")
    )
    ok = pl.col("valid").fill_null(value=False) & pl.col("load").is_not_null()
    framed = (
        grid.join(with_loads.drop("value", strict=False), on=[*pair, "ts"], how="left")
        .join(_stopped_hours(grid, hours, stops), on=[*pair, "ts"], how="left")
        .sort(*pair, "ts")
        .with_columns(pl.when(ok).then(pl.col("load")).alias("measured"), pl.col("stopped").fill_null(value=False))
        .with_columns(pl.col("stopped") & pl.col("measured").is_null())
    )
    # the largest of the lookback's valid hours (not clock hours: a month's outage does not empty it)
    peaks = framed.filter(pl.col("measured").is_not_null()).select(
        *pair,
        "ts",
        pl.col("measured")
        .rolling_max(window_size=rules.substitution_lookback_h, min_samples=1)
        .over(pair)
        .alias("recent_max"),
    )
    framed = (
        framed.join(peaks, on=[*pair, "ts"], how="left")
        .with_columns(
            pl.col("measured").forward_fill().over(pair).alias("before"),
            pl.col("measured").backward_fill().over(pair).alias("after"),
            # a stopped hour ends a gap as a valid one does: the gap is what the CEMS missed
            (pl.col("measured").is_not_null() | pl.col("stopped")).cum_sum().over(pair).alias("run"),
        )
        .with_columns(
            # for every hour of a gap: its length, and the largest valid hour of the lookback before it
            (pl.len().over(*pair, "run") - 1).alias("gap_h"),
            pl.col("recent_max").forward_fill().over(pair).alias("peak"),
        )
    )
    inside = pl.col("before").is_not_null() & pl.col("after").is_not_null()
    short = pl.col("gap_h") <= rules.substitution_max_gap_h
    if rules.substitution == "adjacent_mean":
        filled = pl.when(short).then((pl.col("before") + pl.col("after")) / 2).otherwise(pl.col("peak"))
    elif rules.substitution == "previous_max":
        filled = pl.col("peak")
    else:
        filled = pl.lit(None, pl.Float64)
    load = (
        pl.when(pl.col("measured").is_not_null())
        .then(pl.col("measured"))
        .when(pl.col("stopped"))
        .then(0.0)
        .when(inside)
        .then(filled)
    )
    status = (
        pl.when(pl.col("measured").is_not_null())
        .then(pl.lit(VALID))
        .when(pl.col("stopped"))
        .then(pl.lit(STOPPED))
        .when(pl.col("load").is_not_null())
        .then(pl.lit(SUBSTITUTED))
        .otherwise(pl.lit(MISSING))
    )
    return (
        framed.with_columns(load.alias("load"))
        .with_columns(status.alias("status"))
        .with_columns((pl.col("status") == SUBSTITUTED).alias("substituted"))
        .select(HOUR_SCHEMA.names())
        .cast(HOUR_SCHEMA)
    )


def _stopped_hours(grid: pl.DataFrame, hours: pl.DataFrame, stops: pl.DataFrame | None) -> pl.DataFrame:
    """``device_id, factor, ts, stopped`` for the grid's hours a stop window touches (an hour partly
    stopped cannot be expected whole) or whose device measured a valid zero flow."""
    keys = ["device_id", "factor", "ts"]
    found = [pl.DataFrame(schema={"device_id": pl.Int64, "factor": pl.String, "ts": pl.Datetime("us", "UTC")})]
    if stops is not None and not stops.is_empty():
        touched = grid.join(stops, on="device_id").filter(
            (pl.col("factor_right").is_null() | (pl.col("factor_right") == pl.col("factor")))
            & (pl.col("start") < pl.col("ts") + pl.duration(hours=1))
            & (pl.col("end") > pl.col("ts"))
        )
        found.append(touched.select(keys))
    if "value" in hours.columns:
        zero = hours.filter(
            pl.col("factor").is_in([GAS_FLOW, WATER_FLOW])
            & pl.col("valid").fill_null(value=False)
            & (pl.col("value") == 0)
        ).select("device_id", "ts")
        found.append(grid.join(zero, on=["device_id", "ts"]).select(keys))
    return pl.concat(found).unique().with_columns(pl.lit(value=True).alias("stopped"))


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
