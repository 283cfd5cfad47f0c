"""Emission totals (排放量) from hourly loads, against the discharge permit's caps.

For a month: each unit × factor (and each outlet × factor that has a cap of its own) gets the
month's total, the year's total up to the month's end (or up to now, for a month in progress),
and its largest day, in kg, beside the day, month and year caps in force (许可排放量). A day
over a daily cap is counted.

An hour's load is the platform's computed hourly load where that hour is valid, else the
device's own valid hourly upload (HJ 212 2061): its ``Cou`` for the factor, or the hour's mean
concentration × the flow's ``Cou`` (m³) where the logger sent no ``Cou`` for the factor. Loggers
send an hour's data for every hour; the platform computes hours only for the minutes it received.

Every hour of the period (the month, or its hours elapsed, China time) is exactly one of
``valid``, ``substituted``, ``stopped`` or ``missing``; they add up to the period's hours. An hour
whose load is missing or invalid between two valid hours is substituted as ``Rules.substitution``
says (HJ 75-2017 §12.4 as digested in screening-rules.md §2.1 [R]), keyed on the capture rate
(valid hours of the hours the source was not stopped): at or above
``substitution_full_capture`` the mean of the valid hours just before and after a gap of up to
``substitution_max_gap_h`` hours, else the largest of the ``substitution_lookback_h`` valid hours
before it; between ``substitution_min_capture`` and that, the largest of the
``substitution_low_capture_lookback_h`` valid hours before it; below it nothing is substituted.
Hours before the first or after the last valid hour, or where no rule applies, are ``missing``.
A unit's hour counts once: missing if any of its devices' hours is, else substituted, else
valid; stopped when all are. Days with no hourly values but a computed daily load count by it.

Substitution covers the hours a CEMS gave no valid data *while the source discharged* (HJ 75-2017
§12.4 as digested [R]): an hour the plant was stopped discharged nothing. An hour without a valid
load is ``stopped`` (0 kg, never substituted) under a stop mark in effect (kinds with ``stop =
true`` in ``quality.markkinds``; approved, or also pending with ``mark_takes_effect = "filed"``)
covering the device and factor, while its unit is declared stopped or closed (``Unit.status``), or
when its device measured a valid zero flow that hour. A valid measured hour stays measured even
under a stop mark: a measured discharge is not erased (screening's R16 raises the contradiction).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import polars as pl
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from offsite.hj212.times import CST
from offsite.quality.coverage import month_span
from offsite.quality.loads import kg_per_m3
from offsite.quality.markkinds import mark_kinds
from offsite.quality.marks import DataMark, states_in_effect
from offsite.quality.rules import GAS_FLOW, WATER_FLOW, Rules
from offsite.registry.models import Device, Outlet, PermitCap, Unit
from offsite.settings import get_settings
from offsite.store.models import DAY, HOUR
from offsite.store.series import read_computed, read_interval

CHINA = "Asia/Shanghai"
SUBSTITUTIONS = ("adjacent_mean", "previous_max", "none")
SCOPE = ["unit", "outlet", "factor"]
VALID, SUBSTITUTED, STOPPED, MISSING = "valid", "substituted", "stopped", "missing"
RANK = {STOPPED: 0, VALID: 1, SUBSTITUTED: 2, MISSING: 3}
"""A scope's hour takes the highest-ranked status of its devices' hours."""
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
INPUT_SCHEMA = pl.Schema(
    {
        "device_id": pl.Int64(),
        "factor": pl.String(),
        "ts": pl.Datetime("us", "UTC"),
        "value": pl.Float64(),
        "load": pl.Float64(),
        "valid": pl.Boolean(),
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
        "days_with_data": pl.Int64(),
        "hours_with_data": pl.Int64(),
        "hours_in_period": pl.Int64(),
    }
)
"""Columns after ``over`` were added for what a total covers: the month without substitutions,
and its hours valid, substituted and missing; ``substituted``: the month holds substitutions;
``hours_stopped``: hours the plant was stopped (0 kg, not substituted); ``days_with_data`` and
``hours_with_data``: days with a valid hour (or a daily load) and the valid hours;
``hours_in_period``: the month's hours so far, the sum of the four hour counts."""
DAY_SUMS = ("load", "measured", "hours_valid", "hours_substituted", "hours_stopped")


def emission_totals(
    engine: Engine,
    session: Session,
    month: date,
    rules: Rules | None = None,
    *,
    takes_effect: str | None = None,
    now: datetime | None = None,
) -> pl.DataFrame:
    """Totals for the month ``month`` (any day in it) up to ``now`` (default: the clock), one row
    per unit × factor with loads, and per outlet × factor where a cap is set for the outlet.
    ``outlet`` is null for unit rows. ``takes_effect``: which marks are in effect (the
    ``mark_takes_effect`` setting by default)."""
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
    month_start = datetime.combine(first, time(), CST)
    _, period_hours = month_span(first, now or datetime.now(CST))
    period_end = month_start + timedelta(hours=period_hours)
    hours = hourly_loads(engine, ids, year_start, period_end, rules, takes_effect=takes_effect, since=month_start)
    located = hours.join(devices, on="device_id")
    per_unit = _scope_hours(located, ["unit", "factor"]).with_columns(pl.lit(None, pl.Int64).alias("outlet"))
    caps = _caps(session, first, after)
    outlet_scopes = caps.filter(pl.col("outlet").is_not_null()).select("outlet", "factor").unique()
    per_outlet = _scope_hours(located.join(outlet_scopes, on=["outlet", "factor"], how="semi"), SCOPE)
    columns = [*SCOPE, "day", *DAY_SUMS]
    hourly_days = pl.concat([per_unit.select(columns), per_outlet.select(columns)])
    stored_days = (
        read_computed(engine, ids, year_start, period_end, period=DAY)
        .filter(pl.col("load").is_not_null())
        .join(devices, on="device_id")
        .with_columns(_china_day("ts"))
    )
    daily_unit = stored_days.group_by("unit", "factor", "day").agg(
        pl.col("load").sum(), pl.col("n_valid").max().alias("n_valid")
    )
    daily_outlet = (
        stored_days.join(outlet_scopes, on=["outlet", "factor"], how="semi")
        .group_by(*SCOPE, "day")
        .agg(pl.col("load").sum(), pl.col("n_valid").max().alias("n_valid"))
    )
    daily = pl.concat(
        [
            daily_unit.with_columns(pl.lit(None, pl.Int64).alias("outlet")).select(*SCOPE, "day", "load", "n_valid"),
            daily_outlet.select(*SCOPE, "day", "load", "n_valid"),
        ]
    )
    # a day with no hour behind it (valid, substituted or stopped) counts by its daily load
    covered = hourly_days.filter(
        (pl.col("hours_valid") + pl.col("hours_substituted") + pl.col("hours_stopped")) > 0
    ).select(*SCOPE, "day")
    only_daily = daily.join(covered, on=[*SCOPE, "day"], how="anti", nulls_equal=True).select(
        *SCOPE,
        "day",
        "load",
        pl.col("load").alias("measured"),
        pl.col("n_valid").fill_null(0).clip(0, 24).cast(pl.Int64).alias("hours_valid"),
        pl.lit(0, pl.Int64).alias("hours_substituted"),
        pl.lit(0, pl.Int64).alias("hours_stopped"),
    )
    days = pl.concat(
        [
            hourly_days.join(only_daily.select(*SCOPE, "day"), on=[*SCOPE, "day"], how="anti", nulls_equal=True),
            only_daily.select(columns),
        ]
    )
    in_month = pl.col("day") >= first
    totals = days.group_by(SCOPE).agg(
        pl.col("load").filter(in_month).sum().alias("month_kg"),
        pl.col("load").sum().alias("year_kg"),
        pl.col("load").filter(in_month).max().alias("max_day_kg"),
        pl.col("measured").filter(in_month).sum().alias("measured_month_kg"),
        *(pl.col(c).filter(in_month).sum().alias(c) for c in DAY_SUMS[2:]),
        (in_month & (pl.col("hours_valid") > 0)).sum().cast(pl.Int64).alias("days_with_data"),
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
    counted = pl.col("hours_valid") + pl.col("hours_substituted") + pl.col("hours_stopped")
    return (
        totals.join(wide, on=SCOPE, how="full", coalesce=True, nulls_equal=True)
        .join(over_days, on=SCOPE, how="left", nulls_equal=True)
        .join(names, on="unit", how="left")
        .with_columns(
            pl.col("month_kg", "year_kg", "measured_month_kg").fill_null(0.0),
            pl.col("days_over", "days_with_data", *DAY_SUMS[2:]).fill_null(0),
        )
        .with_columns(
            (
                (pl.col("days_over") > 0)
                | (pl.col("month_kg") > pl.col("month_cap_kg")).fill_null(value=False)
                | (pl.col("year_kg") > pl.col("year_cap_kg")).fill_null(value=False)
            ).alias("over"),
            (pl.col("hours_substituted") > 0).alias("substituted"),
            # every hour of the period not valid, substituted or stopped is missing
            (pl.lit(period_hours) - counted).clip(0).alias("hours_missing"),
            pl.col("hours_valid").alias("hours_with_data"),
            pl.lit(period_hours).alias("hours_in_period"),
        )
        .select(SCHEMA.names())
        .cast(SCHEMA)
        .sort("credit_code", "factor", "outlet", nulls_last=False)
    )


def _scope_hours(located: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Per scope × China day: loads summed over the scope's devices, and its hours counted once
    each by the highest-ranked status of its devices' hours."""
    ranks = pl.DataFrame({"status": list(RANK), "rank": list(RANK.values())})
    per_hour = (
        located.join(ranks, on="status")
        .group_by(*keys, "ts")
        .agg(pl.col("load").sum(), pl.col("measured").sum(), pl.col("rank").max())
        .with_columns(_china_day("ts"))
    )
    return per_hour.group_by(*keys, "day").agg(
        pl.col("load").sum(),
        pl.col("measured").sum(),
        (pl.col("rank") == RANK[VALID]).sum().cast(pl.Int64).alias("hours_valid"),
        (pl.col("rank") == RANK[SUBSTITUTED]).sum().cast(pl.Int64).alias("hours_substituted"),
        (pl.col("rank") == RANK[STOPPED]).sum().cast(pl.Int64).alias("hours_stopped"),
    )


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
    since: datetime | None = None,
) -> pl.DataFrame:
    """Every hour of each device × factor with loads in ``start``–``end``, from its first hour
    (or ``since``, if earlier) up to ``end``: ``measured`` the load of a valid hour, ``load``
    that, 0 for a stopped hour, or the substitute; ``status`` valid, substituted, stopped or
    missing. A valid computed hour is taken first, else the device's valid hourly upload."""
    rules = rules or Rules()
    computed = read_computed(engine, device_ids, start, end, period=HOUR).select(INPUT_SCHEMA.names())
    uploads = uploaded_loads(
        read_interval(engine, device_ids, start, end, period=HOUR, columns=("avg", "cou", "flag")), rules
    )
    with Session(engine) as session:
        stops = stop_windows(session, device_ids, start, end, takes_effect or get_settings().mark_takes_effect)
    return substitute(merge_hours(computed, uploads), rules, stops, since=since, until=end)


def uploaded_loads(uploads: pl.DataFrame, rules: Rules) -> pl.DataFrame:
    """The hourly uploads (``device_id, factor, ts, avg, cou, flag``) as ``INPUT_SCHEMA`` rows: a
    pollutant's load its ``Cou`` (kg), else its mean × kg per m³ of its unit × the flow's ``Cou``
    (m³) that hour; a flow keeps its mean as ``value`` (a valid zero flow stops the hour)."""
    mass = kg_per_m3(rules)
    flows = [GAS_FLOW, WATER_FLOW]
    valid = pl.col("flag").is_in(list(rules.valid_flags)).fill_null(value=False)
    volume = uploads.filter(pl.col("factor").is_in(flows) & valid).select(
        "device_id", "ts", pl.col("cou").alias("volume_m3")
    )
    scale = pl.col("factor").replace_strict(mass, default=None, return_dtype=pl.Float64)
    return (
        uploads.filter(pl.col("factor").is_in([*mass, *flows]))
        .join(volume, on=["device_id", "ts"], how="left")
        .select(
            "device_id",
            "factor",
            "ts",
            pl.col("avg").alias("value"),
            pl.when(scale.is_not_null())
            .then(pl.coalesce(pl.col("cou"), pl.col("avg") * scale * pl.col("volume_m3")))
            .alias("load"),
            valid.alias("valid"),
        )
        .cast(INPUT_SCHEMA)
    )


def merge_hours(computed: pl.DataFrame, uploads: pl.DataFrame) -> pl.DataFrame:
    """One row per device × factor × hour: the computed hour where it is valid with a load, else
    the upload where that is, else whichever there is (computed first)."""
    keys = ["device_id", "factor", "ts"]
    valid = pl.col("valid").fill_null(value=False)
    both = pl.concat(
        [
            computed.cast(INPUT_SCHEMA).with_columns(pl.lit(0).alias("source")),
            uploads.cast(INPUT_SCHEMA).with_columns(pl.lit(1).alias("source")),
        ]
    )
    return (
        both.with_columns(
            pl.when(valid & pl.col("load").is_not_null()).then(0).when(valid).then(1).otherwise(2).alias("rank")
        )
        .sort(*keys, "rank", "source")
        .unique(subset=keys, keep="first", maintain_order=True)
        .select(INPUT_SCHEMA.names())
    )


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


def substitute(
    hours: pl.DataFrame,
    rules: Rules,
    stops: pl.DataFrame | None = None,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> pl.DataFrame:
    """The substitution itself, on ``device_id, factor, ts, load, valid`` hour rows (with ``value``,
    a valid zero flow stops its device's hour); ``stops``: windows the plant was stopped
    (``STOP_SCHEMA``). Each device × factor with a load gets every hour from its first row (or
    ``since``, if earlier) to its last (or up to, not including, ``until``)."""
    if rules.substitution not in SUBSTITUTIONS:
        raise ValueError(f"substitution {rules.substitution!r} is not one of {', '.join(SUBSTITUTIONS)}")
    pair = ["device_id", "factor"]
    with_loads = hours.filter(pl.col("load").is_not_null().any().over(pair))
    if with_loads.is_empty():
        return pl.DataFrame(schema=HOUR_SCHEMA)
    first = pl.col("ts").min()
    if since is not None:
        first = pl.min_horizontal(first, pl.lit(since.astimezone(UTC)).cast(pl.Datetime("us", "UTC")))
    last = pl.col("ts").max()
    if until is not None:
        last = pl.lit(until.astimezone(UTC) - timedelta(hours=1)).cast(pl.Datetime("us", "UTC"))
    grid = (
        with_loads.group_by(pair)
        .agg(pl.datetime_ranges(first, last, "1h").first().alias("ts"))
        .explode("ts")
        .drop_nulls("ts")
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
        *(
            pl.col("measured").rolling_max(window_size=size, min_samples=1).over(pair).alias(name)
            for name, size in (
                ("recent_max", rules.substitution_lookback_h),
                ("low_max", rules.substitution_low_capture_lookback_h),
            )
        ),
    )
    framed = (
        framed.join(peaks, on=[*pair, "ts"], how="left")
        .with_columns(
            pl.col("measured").forward_fill().over(pair).alias("before"),
            pl.col("measured").backward_fill().over(pair).alias("after"),
            # a stopped hour ends a gap as a valid one does: the gap is what the CEMS missed
            (pl.col("measured").is_not_null() | pl.col("stopped")).cum_sum().over(pair).alias("run"),
            # the capture rate: valid hours of those the source was not stopped
            (
                pl.col("measured").is_not_null().sum().over(pair)
                / (pl.len().over(pair) - pl.col("stopped").sum().over(pair)).cast(pl.Float64)
            ).alias("capture"),
        )
        .with_columns(
            # for every hour of a gap: its length, and the largest valid hours of the lookbacks before it
            (pl.len().over(*pair, "run") - 1).alias("gap_h"),
            pl.col("recent_max").forward_fill().over(pair).alias("peak"),
            pl.col("low_max").forward_fill().over(pair).alias("low_peak"),
        )
    )
    inside = pl.col("before").is_not_null() & pl.col("after").is_not_null()
    short = pl.col("gap_h") <= rules.substitution_max_gap_h
    if rules.substitution == "adjacent_mean":
        full = pl.when(short).then((pl.col("before") + pl.col("after")) / 2).otherwise(pl.col("peak"))
    elif rules.substitution == "previous_max":
        full = pl.col("peak")
    else:
        full = pl.lit(None, pl.Float64)
    filled = (
        pl.when(pl.col("capture") >= rules.substitution_full_capture)
        .then(full)
        .when((pl.col("capture") >= rules.substitution_min_capture) & pl.lit(rules.substitution != "none"))
        .then(pl.col("low_peak"))
    )
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
