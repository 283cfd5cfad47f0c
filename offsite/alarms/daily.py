"""The daily values the grading reads: stored daily averages joined to outlets, units and limits.

Daily (and hourly) values are the platform's own, computed from the stored minutes by
``offsite.quality`` (``computed_value``), where they exist; otherwise the devices' 2031 (2061) data
as stored, for devices that send no minutes. A device's value counts as valid when its flag is N,
or T (above the range: a lower bound that still proves the exceedance, screening-rules.md §2), or
absent (2005 loggers send no flag). The limit is the outlet's daily limit in force that day, on the
corrected value where the limit's basis says so: a limit on the reference-O2 basis is judged on the
corrected value only, and a day or hour without one (no O2, O2 at or above the guard, no reference)
is not judged at all (``uncorrected``; screening rule R19 raises a clue for it) — the raw
concentration of a diluted flue would read several times low. A limit may set an upper bound, a
lower one, or both (pH 6–9); a value beyond either exceeds. A day an approved data mark touches is
judged on its unmarked hours (``_apply_marks``); a mark covers its outlet, or one device, or one
factor (of the device, or of every device at the outlet).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import polars as pl
from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.orm import Session

from offsite.alarms.models import HourExceedance
from offsite.alarms.multiples import multiple_columns
from offsite.hj212.times import CST
from offsite.quality.aggregate import HOURS_PER_DAY
from offsite.quality.intervals import cycle_hours, required
from offsite.quality.marks import approved_marks
from offsite.quality.rules import PH, WATER_FLOW, Rules
from offsite.registry.models import Device, Limit, Outlet
from offsite.settings import Settings
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
        "lower": pl.Float64(),
        "valid": pl.Boolean(),
        "marked": pl.Boolean(),
        "uncorrected": pl.Boolean(),
        "ratio": pl.Float64(),
        "multiple": pl.Float64(),
    }
)
"""``limit`` the upper bound (none where the limit sets only a lower one), ``lower`` the lower bound
(pH); ``valid`` whether the value may be judged (a flag that says so and, on the corrected basis, a
corrected value); ``uncorrected`` a day that had a value but no corrected one for a corrected-basis
limit; ``ratio`` C / L and ``multiple`` (C − L) / L (超标倍数), none for a range such as pH."""
PH_NEUTRAL = 7.0
"""A pH day is its reading farthest from neutral (HJ 91.1 practice; what ``quality`` stores)."""


def daily_values(
    engine: Engine,
    session: Session,
    first: date,
    last: date,
    *,
    rules: Rules | None = None,
    marks_take_effect: str = "approved",
    settings: Settings | None = None,
    now: datetime | None = None,
) -> pl.DataFrame:
    """Columns of ``SCHEMA`` for days ``first``–``last``, marks as in effect at ``now``.
    ``marks_take_effect``: ``approved`` (marks count once the bureau approves them) or ``filed`` (as
    soon as they are filed, until their decision deadline passes);
    ``rules``: the validity rules the days were made by (what a marked day still needs)."""
    devices = _devices(session)
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
        .filter(pl.col("value").is_not_null() | pl.col("uncorrected"))
    )
    marks = _marks(session, start, end, marks_take_effect, settings=settings, now=now)
    if not marks.is_empty():
        judged = _apply_marks(engine, judged, marks, devices=devices, limits=limits, rules=rules or Rules())
    return _finish(judged)


def _finish(judged: pl.DataFrame) -> pl.DataFrame:
    """A value without its corrected counterpart is not valid for judgement; the multiples."""
    return (
        judged.with_columns(pl.col("valid") & ~pl.col("uncorrected"))
        .with_columns(multiple_columns())
        .select(SCHEMA.names())
        .cast(SCHEMA)
    )


def _devices(session: Session) -> pl.DataFrame:
    return pl.DataFrame(
        session.execute(select(Device.id, Device.outlet_id, Outlet.unit_id).join(Outlet)).all(),
        schema={"device_id": pl.Int64, "outlet": pl.Int64, "unit": pl.Int64},
        orient="row",
    )


def _values(engine: Engine, device_ids: list[int], start: datetime, end: datetime, *, period: int) -> pl.DataFrame:
    """``device_id, factor, ts, avg, zs_avg, flag, n_expected``: the computed values, and the
    devices' own where none was computed. A computed value's flag is N when valid; T where
    over-range readings give it a lower bound (it is then judged at the higher of value and bound,
    so a capped range cannot hide an exceedance); ``I`` (not valid) otherwise. ``n_expected``: the
    records (hours, for a day) the computed period should hold; none for the devices' own. An
    invalid computed value gives way to the device's own valid one."""
    bounded = pl.col("bound").is_not_null()
    computed = read_computed(engine, device_ids, start, end, period=period).select(
        "device_id",
        "factor",
        "ts",
        pl.max_horizontal("value", "bound").alias("avg"),
        pl.max_horizontal("corrected", "bound_corrected").alias("zs_avg"),
        pl.when(pl.col("valid")).then(pl.lit("N")).when(bounded).then(pl.lit("T")).otherwise(pl.lit("I")).alias("flag"),
        "n_expected",
    )
    sent = read_interval(engine, device_ids, start, end, period=period, columns=("avg", "zs_avg", "flag")).with_columns(
        pl.lit(None, pl.Int64).alias("n_expected")
    )
    if computed.is_empty():
        return sent
    # a period computed from the minutes that reached the platform is invalid when some were lost
    # on the way (a logger sends its hour from all of them); the device's own valid value then stands
    key = ["device_id", "factor", "ts"]
    sent_valid = sent.filter(pl.col("flag").is_null() | pl.col("flag").is_in(VALID_FLAGS)).select(key)
    computed = computed.join(
        sent_valid.join(computed.filter(pl.col("flag") == "I"), on=key, how="semi"), on=key, how="anti"
    )
    return pl.concat([computed, sent.join(computed, on=key, how="anti")])


def hour_values(engine: Engine, device_ids: list[int], start: datetime, end: datetime) -> pl.DataFrame:
    """Hourly ``device_id, factor, ts, avg, zs_avg, flag``: computed where there are, else the devices'."""
    return _values(engine, device_ids, start, end, period=HOUR)


def _against_limits(values: pl.DataFrame, devices: pl.DataFrame, limits: pl.DataFrame) -> pl.DataFrame:
    """Stored values with their China day, outlet and unit, and the limit in force that day.
    ``value`` is the corrected value where the limit's basis is corrected (never the measured one
    in its place: ``uncorrected`` says it is missing), the measured one otherwise."""
    corrected = pl.col("basis") == "corrected"
    return (
        values.with_columns(pl.col("ts").dt.convert_time_zone("Asia/Shanghai").dt.date().alias("day"))
        .join(devices, on="device_id")
        .join(limits, on=["outlet", "factor"])
        .filter((pl.col("day") >= pl.col("valid_from")) & (pl.col("day") <= pl.col("valid_to")))
        .with_columns(
            pl.when(corrected).then(pl.col("zs_avg")).otherwise(pl.col("avg")).alias("value"),
            (corrected & pl.col("zs_avg").is_null() & pl.col("avg").is_not_null()).alias("uncorrected"),
        )
    )


def beyond_limit(value: str = "value") -> pl.Expr:
    """Above the upper bound or below the lower one (pH 6–9: 5.2 exceeds as 9.6 does)."""
    above = pl.col("limit").is_not_null() & (pl.col(value) > pl.col("limit"))
    below = pl.col("lower").is_not_null() & (pl.col(value) < pl.col("lower"))
    return (above | below).fill_null(value=False)


def _marks(
    session: Session,
    start: datetime,
    end: datetime,
    takes_effect: str = "approved",
    *,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> pl.DataFrame:
    """The marks in effect at ``now`` over ``start``–``end`` (cut to what the caps of their
    outlet's standard exempt) with their scope: ``mark_device`` and ``mark_factor`` are null where
    the mark covers every device or factor of its outlet."""
    found = approved_marks(session, start, end, takes_effect=takes_effect, now=now, settings=settings)
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


def _covered() -> pl.Expr:
    """Whether a mark (joined on the outlet) reaches the row's device and factor."""
    device = pl.col("mark_device").is_null() | (pl.col("mark_device") == pl.col("device_id"))
    factor = pl.col("mark_factor").is_null() | (pl.col("mark_factor") == pl.col("factor"))
    return device & factor


def _hour_in_mark() -> pl.Expr:
    return (pl.col("ts") < pl.col("end_at")) & (pl.col("ts") + pl.duration(hours=1) > pl.col("start_at"))


def _apply_marks(
    engine: Engine,
    judged: pl.DataFrame,
    marks: pl.DataFrame,
    *,
    devices: pl.DataFrame,
    limits: pl.DataFrame,
    rules: Rules,
) -> pl.DataFrame:
    """Days a mark touches (for the device and factor it covers) are judged on their unmarked
    hours, as the day itself is made: wastewater concentrations weighed by each hour's flow where
    the device sends flow, pH as the hour farthest from neutral (never an average), the others a
    plain mean. With fewer unmarked hours than the day needs to be valid (``_needs``) it is marked."""
    touched = devices.join(marks.select("outlet").unique(), on="outlet")
    start, end = marks["start_at"].min(), marks["end_at"].max()
    assert isinstance(start, datetime)
    assert isinstance(end, datetime)
    hours = _values(
        engine,
        touched["device_id"].to_list(),
        datetime.combine(start.astimezone(CST).date(), time(), CST),
        datetime.combine(end.astimezone(CST).date() + timedelta(days=1), time(), CST),
        period=HOUR,
    )
    hour_key = ["device_id", "factor", "ts"]
    inside = (
        hours.join(touched, on="device_id")
        .join(marks, on="outlet")
        .filter(_covered() & _hour_in_mark())
        .select(hour_key)
        .unique()
    )
    flow = hours.filter(pl.col("factor") == WATER_FLOW).select("device_id", "ts", pl.col("avg").alias("flow"))
    valid_hour = (pl.col("flag").is_null() | pl.col("flag").is_in(VALID_FLAGS)) & pl.col("avg").is_not_null()
    staged = (
        _against_limits(hours.join(inside, on=hour_key, how="anti"), touched, limits)
        .filter(valid_hour)
        .join(flow, on=["device_id", "ts"], how="left")
        # an hour without flow is weighed by the day's mean hourly flow, as the day itself is
        .with_columns(pl.coalesce("flow", pl.col("flow").mean().over("device_id", "day")).alias("w"))
    )
    counted = pl.col("value").is_not_null()
    weighed = counted & pl.col("w").is_not_null()
    unmarked = staged.group_by("device_id", "factor", "day").agg(
        pl.col("value").filter(counted).mean().alias("mean"),
        ((pl.col("value") * pl.col("w")).filter(weighed).sum() / pl.col("w").filter(weighed).sum()).alias("fw"),
        pl.col("value").filter(counted).sort_by((pl.col("value") - PH_NEUTRAL).abs()).last().alias("extreme"),
        counted.sum().alias("n"),
        pl.col("uncorrected").sum().alias("n_uncorrected"),
        pl.col("flow").is_not_null().any().alias("has_flow"),
    )
    is_water = pl.col("factor").str.starts_with("w") & (pl.col("factor") != WATER_FLOW)
    remade = (
        pl.when(pl.col("factor") == PH)
        .then(pl.col("extreme"))
        .when(is_water & pl.col("has_flow") & pl.col("fw").is_not_null())
        .then(pl.col("fw"))
        .otherwise(pl.col("mean"))
    )
    day_start = pl.col("day").cast(pl.Datetime("us")).dt.replace_time_zone("Asia/Shanghai")
    days = (
        judged.select("device_id", "outlet", "factor", "day")
        .join(marks, on="outlet")
        .with_columns(day_start.dt.convert_time_zone("UTC").alias("_start"))
        .filter(
            _covered()
            & (pl.col("_start") < pl.col("end_at"))
            & (pl.col("_start") + pl.duration(days=1) > pl.col("start_at"))
        )
        .select("device_id", "factor", "day")
        .unique()
        .with_columns(pl.lit(value=True).alias("touched"))
    )
    n = pl.col("n").fill_null(0)
    need = pl.col("need")
    too_few = n + pl.col("n_uncorrected").fill_null(0) < need
    return (
        _needs(judged, hours, rules)
        .join(days, on=["device_id", "factor", "day"], how="left")
        .join(unmarked.with_columns(remade.alias("remade")), on=["device_id", "factor", "day"], how="left")
        .with_columns(
            pl.when(pl.col("touched")).then(pl.col("remade")).otherwise(pl.col("value")).alias("value"),
            pl.when(pl.col("touched")).then(too_few).otherwise(pl.col("marked")).alias("marked"),
            pl.when(pl.col("touched"))
            .then(~too_few & (n < need))
            .otherwise(pl.col("uncorrected"))
            .alias("uncorrected"),
        )
        .drop("need")
    )


def _needs(judged: pl.DataFrame, hours: pl.DataFrame, rules: Rules) -> pl.DataFrame:
    """``judged`` with ``need``: the valid hours its day needs, as ``quality.aggregate`` made it —
    ``min_valid_hours`` of 24, or, for an analyser judged by its cycle (COD, NH3-N, TP, TN on a
    1–4 h cycle: its hours expect one measurement), ``cycle_day_share`` of the measurements the
    day should hold (the stored day's ``n_expected``: 9 of 12 on a 2 h cycle). A day the device
    sent itself has no ``n_expected``: its cycle is read from the spacing of its hours."""
    cyclic = pl.col("factor").is_in(list(rules.cycle_factors))
    day = pl.col("ts").dt.convert_time_zone("Asia/Shanghai").dt.date().alias("day")
    by_cycle = (
        hours.filter(cyclic & (pl.col("n_expected") == 1))
        .select("device_id", "factor", day)
        .unique()
        .with_columns(pl.lit(value=True).alias("by_cycle"))
    )
    sent = hours.filter(cyclic & pl.col("n_expected").is_null() & pl.col("avg").is_not_null())
    spacing = cycle_hours(
        sent.select(pl.col("device_id").cast(pl.String).alias("mn"), "factor", pl.col("ts").alias("time")), rules
    ).select(
        pl.col("mn").cast(pl.Int64).alias("device_id"),
        "factor",
        (HOURS_PER_DAY // pl.col("cycle_h")).cast(pl.Int64).alias("sent_expected"),
    )
    expected = pl.coalesce("n_expected", "sent_expected")
    shares = {e: required(e, rules.cycle_day_share) for e in range(1, HOURS_PER_DAY + 1)}
    judged_by_cycle = (
        pl.col("by_cycle").fill_null(value=False)
        | (pl.col("n_expected") != HOURS_PER_DAY)
        | pl.col("n_expected").is_null()
    )
    cycle_day = cyclic & judged_by_cycle.fill_null(value=True) & expected.is_not_null()
    return (
        judged.join(by_cycle, on=["device_id", "factor", "day"], how="left")
        .join(spacing, on=["device_id", "factor"], how="left")
        .with_columns(
            pl.when(cycle_day)
            .then(expected.replace_strict(shares, default=rules.min_valid_hours, return_dtype=pl.Int64))
            .otherwise(pl.lit(rules.min_valid_hours, pl.Int64))
            .alias("need")
        )
        .drop("by_cycle", "sent_expected")
    )


HOURLY = pl.Schema(
    {
        "unit": pl.Int64(),
        "outlet": pl.Int64(),
        "factor": pl.String(),
        "ts": pl.Datetime("us", "UTC"),
        "value": pl.Float64(),
        "limit": pl.Float64(),
        "lower": pl.Float64(),
        "marked": pl.Boolean(),
        "ratio": pl.Float64(),
        "multiple": pl.Float64(),
    }
)


def hourly_exceedances(
    engine: Engine,
    session: Session,
    first: date,
    last: date,
    *,
    marks_take_effect: str = "approved",
    settings: Settings | None = None,
    now: datetime | None = None,
) -> pl.DataFrame:
    """Valid stored hourly values beyond an hourly limit (where a standard sets one), days
    ``first``–``last``: ``HOURLY`` columns (ts in UTC; ratio C / L and multiple (C − L) / L, none for
    a range). Kept as evidence; the grading itself is on daily values. An hour on the corrected
    basis without a corrected value is not judged."""
    devices = _devices(session)
    limits = _limits(session, first, last, period="hour")
    if limits.is_empty():
        return pl.DataFrame(schema=HOURLY)
    start = datetime.combine(first, time(), CST)
    end = datetime.combine(last + timedelta(days=1), time(), CST)
    devices = devices.join(limits.select("outlet").unique(), on="outlet")
    hours = _values(engine, devices["device_id"].to_list(), start, end, period=HOUR)
    over = (
        _against_limits(hours, devices, limits)
        .filter(pl.col("flag").is_null() | pl.col("flag").is_in(VALID_FLAGS))
        .filter(pl.col("value").is_not_null() & beyond_limit())
    )
    marks = _marks(session, start, end, marks_take_effect, settings=settings, now=now)
    inside = (
        over.join(marks, on="outlet")
        .filter(_covered() & _hour_in_mark())
        .select("device_id", "factor", "ts")
        .unique()
        .with_columns(pl.lit(value=True).alias("marked"))
    )
    return (
        over.join(inside, on=["device_id", "factor", "ts"], how="left")
        .with_columns(pl.col("marked").fill_null(value=False))
        .with_columns(multiple_columns())
        .select(HOURLY.names())
        .cast(HOURLY)
        .sort("outlet", "factor", "ts")
    )


def _limits(session: Session, first: date, last: date, period: str = "day") -> pl.DataFrame:
    rows = session.execute(
        select(
            Limit.outlet_id, Limit.factor, Limit.value, Limit.lower, Limit.basis, Limit.valid_from, Limit.valid_to
        ).where(
            Limit.period == period, Limit.valid_from <= last, (Limit.valid_to.is_(None)) | (Limit.valid_to >= first)
        )
    ).all()
    return pl.DataFrame(
        [(o, f, v, low, b, start, end or date.max) for o, f, v, low, b, start, end in rows],
        schema={
            "outlet": pl.Int64,
            "factor": pl.String,
            "limit": pl.Float64,
            "lower": pl.Float64,
            "basis": pl.String,
            "valid_from": pl.Date,
            "valid_to": pl.Date,
        },
        orient="row",
    )


def keep_hourly_exceedances(session: Session, found: pl.DataFrame, first: date, last: date) -> int:
    """Replace the evidence of days ``first``–``last`` with ``found`` (a recomputation may drop
    hours a corrected limit no longer exceeds, or mark hours a late mark covers). An hour below a
    lower bound keeps that bound as its limit."""
    start = datetime.combine(first, time(), CST)
    end = datetime.combine(last + timedelta(days=1), time(), CST)
    session.execute(delete(HourExceedance).where(HourExceedance.ts >= start, HourExceedance.ts < end))
    rows = [
        {
            "outlet_id": r["outlet"],
            "factor": r["factor"],
            "ts": r["ts"],
            "value": r["value"],
            "limit": r["limit"] if r["limit"] is not None and r["value"] > r["limit"] else r["lower"],
            "marked": r["marked"],
        }
        for r in found.unique(["outlet", "factor", "ts"], keep="first", maintain_order=True).iter_rows(named=True)
    ]
    if rows:
        session.execute(insert(HourExceedance), rows)
    return len(rows)
