"""Minute → hour → day for flue gas and wastewater, vectorised with Polars.

Input: long rows ``mn, factor, time, value, flag`` (minute data). Output: one row per
``mn, factor, period, time`` with the period's value, the reference-O2-corrected value (flue-gas
concentrations with a reference O2), whether the period is valid, and how many valid inputs it had.

- A minute counts if its flag is valid (N by default) and it has a value.
- An hour is valid with ``Rules.record_share`` (75 %) of the records expected at the device's
  minute-data interval, rounded up: 45 of 60 one-minute records, 5 of 6 ten-minute ones; the
  interval is the device's declared one, else inferred from its records' spacing (``intervals``).
  Cycle analysers (COD, NH3-N, TP, TN) are judged by their cycle: an hour holding a valid
  measurement is valid; their day needs 75 % of the measurements the cycle implies.
  ``n_expected`` says what each period should have held.
- Flue gas: arithmetic means of valid minutes.
- Wastewater: concentrations are flow-weighted (Σ C·Q / Σ Q) over their valid minutes; a minute
  without a valid flow is weighed by the period's mean valid flow; flow itself is a plain mean.
- pH is judged per value and never averaged: a period's value is its reading farthest from 7.
- Correction: C × (21 − O2_ref) / (21 − O2) from the period's mean O2; none at O2 ≥ ``o2_guard``.
- Flue-gas flow at standard state, dry, and hourly loads in kg: ``loads.py``; a day's load is
  the sum of its hours' loads (no substitution of missing hours yet).
- Days run midnight to midnight, China time; a day is valid with ``min_valid_hours`` valid hours
  and is computed from the valid hours (flow-weighted by hourly mean flow for water).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from offsite.quality.intervals import Interval, Key, cycle_hours, cycle_judged, intervals, required
from offsite.quality.loads import STANDARD_DRY, standard_and_loads
from offsite.quality.rules import CORRECTED_PREFIXES, GAS_FLOW, GAS_MARKERS, O2, PH, VELOCITY, WATER_FLOW, Rules
from offsite.quality.timestamps import no_offset, offset_missing, parse_utc

CST = "Asia/Shanghai"
OUTPUT = ("mn", "factor", "period", "time", "value", "corrected", "valid", "n_valid", "n_expected")
HOURS_PER_DAY = 24


@dataclass(frozen=True, slots=True)
class Outlet:
    """What aggregation needs to know of one device (MN) and the outlet it measures."""

    medium: str
    o2_ref: float | None = None
    """The reference O2 in force: the outlet's own, else its standard's (``registry.standards``)."""
    area_m2: float | None = None
    minute_interval_s: int | None = None
    """Declared minute-data interval; none: inferred from the records."""
    flow_basis: str | None = None
    """``actual_wet`` (none) or ``standard_dry``: flow already at standard state, dry."""
    flow_unit: str | None = None
    """m3/s, m3/h or L/s; none: the code table's unit."""


class BadInput(ValueError):
    """A row or column of the input that cannot be aggregated."""


def aggregate(
    minutes: pl.DataFrame,
    outlets: dict[str, Outlet] | None = None,
    rules: Rules | None = None,
    used: dict[Key, Interval] | None = None,
) -> pl.DataFrame:
    """Hour and day rows of the minutes. ``used``: the intervals to judge by, as ``device_intervals``
    gives them (computed here when not given)."""
    rules = rules or Rules()
    outlets = _outlets(minutes, outlets or {})
    hours = hourly(minutes, outlets, rules, used)
    days = daily(hours, outlets, rules)
    return pl.concat([hours, days]).sort(["mn", "factor", "period", "time"], descending=[False, False, True, False])


def device_intervals(
    minutes: pl.DataFrame,
    outlets: dict[str, Outlet] | None = None,
    rules: Rules | None = None,
    fullest: dict[Key, int] | None = None,
) -> dict[Key, Interval]:
    """Per ``mn, factor``: the minute-data interval its hours are judged by, declared or inferred
    (``fullest``: the most valid records a recent computed hour of each held, where known)."""
    given = outlets or {}
    return intervals(minutes, {mn: o.minute_interval_s for mn, o in given.items()}, rules or Rules(), fullest)


def hourly(
    minutes: pl.DataFrame, outlets: dict[str, Outlet], rules: Rules, used: dict[Key, Interval] | None = None
) -> pl.DataFrame:
    """Hour rows (``period`` = hour) of the minutes; every device in ``minutes`` needs an outlet.
    Besides the output columns: ``standard``, ``load`` and ``q_mean`` (the hour's mean valid
    wastewater flow, which weighs the hour in its day)."""
    if used is None:
        used = intervals(minutes, {mn: o.minute_interval_s for mn, o in outlets.items()}, rules)
    return _periods(_prepare(minutes, outlets, rules), "1h", outlets, rules, used)


def daily(hours: pl.DataFrame, outlets: dict[str, Outlet], rules: Rules) -> pl.DataFrame:
    """Day rows from the hour rows of whole China-time days (as ``hourly`` makes them)."""
    return _days(hours, outlets, rules)


def _outlets(minutes: pl.DataFrame, given: dict[str, Outlet]) -> dict[str, Outlet]:
    out = dict(given)
    for mn, factors in minutes.group_by("mn").agg(pl.col("factor").unique()).iter_rows():
        if mn not in out:
            out[mn] = Outlet("gas" if GAS_MARKERS & set(factors) else "water")
    return out


def _prepare(minutes: pl.DataFrame, outlets: dict[str, Outlet], rules: Rules) -> pl.DataFrame:
    frame = minutes.with_columns(
        pl.col("time").dt.convert_time_zone(CST),
        pl.col("value").cast(pl.Float64, strict=False),
        # a NaN or infinite reading is no measurement (read_minutes refuses it in a file)
        (pl.col("flag").is_in(list(rules.valid_flags)) & pl.col("value").cast(pl.Float64, strict=False).is_finite())
        .fill_null(value=False)
        .alias("ok"),
    )
    derived = []
    for mn, outlet in outlets.items():  # flue-gas flow from velocity × cross-section where none is sent
        if outlet.medium != "gas" or not outlet.area_m2:
            continue  # only a flue with its cross-section declared can have its flow derived
        rows = frame.filter(pl.col("mn") == mn)
        if GAS_FLOW not in set(rows["factor"]):
            velocity = rows.filter(pl.col("factor") == VELOCITY)
            derived.append(velocity.with_columns(pl.lit(GAS_FLOW).alias("factor"), pl.col("value") * outlet.area_m2))
    return pl.concat([frame, *derived]) if derived else frame


def _intervals_table(used: dict[Key, Interval], frame: pl.DataFrame) -> pl.DataFrame:
    """``mn, factor, seconds`` for every pair of ``frame``: the interval judged by; a flow derived
    from velocity takes the velocity's, anything else unknown one minute."""
    known = dict(used)
    for mn, factor in frame.select("mn", "factor").unique().rows():
        if (mn, factor) not in known:
            known[(mn, factor)] = used.get((mn, VELOCITY), Interval(60, "default"))
    return pl.DataFrame(
        [(mn, factor, i.seconds) for (mn, factor), i in known.items()],
        schema={"mn": pl.String, "factor": pl.String, "seconds": pl.Int64},
        orient="row",
    )


def _expected(rules: Rules) -> tuple[pl.Expr, pl.Expr]:
    """Per row (``seconds``: its interval): the records its hour should hold and the valid ones it
    needs; a cycle analyser's hour (``cycle`` set) should hold its one measurement."""
    cycle = pl.col("cycle")
    per_hour = 3600 // pl.col("seconds")
    need = (per_hour * rules.record_share - 1e-9).ceil().cast(pl.Int64).clip(lower_bound=1)
    return (
        pl.when(cycle).then(1).otherwise(per_hour).alias("n_expected"),
        pl.when(cycle).then(1).otherwise(need).alias("need"),
    )


def _periods(
    frame: pl.DataFrame, every: str, outlets: dict[str, Outlet], rules: Rules, used: dict[Key, Interval]
) -> pl.DataFrame:
    water = _weighted_devices(frame, outlets)
    weighted = pl.col("mn").is_in(water) & (pl.col("factor") != WATER_FLOW) & (pl.col("factor") != PH)
    flow = frame.filter((pl.col("factor") == WATER_FLOW) & pl.col("ok")).select(
        "mn", "time", pl.col("value").alias("q"), pl.col("time").dt.truncate(every).alias("start")
    )
    period_flow = flow.group_by(["mn", "start"]).agg(pl.col("q").mean().alias("q_mean"))
    # A concentration minute is valid by its own flag; flow only weighs it. A minute whose flow is
    # missing or invalid is weighed by the period's mean valid flow.
    # records count as distinct slots of their interval: one minute sent four times, or sixty
    # records in one second, is one record of a one-minute device
    prepared = frame.join(_intervals_table(used, frame), on=["mn", "factor"], how="left").with_columns(
        pl.col("time").dt.truncate(every).alias("start"),
        pl.col("ok").alias("use"),
        (pl.col("time").dt.epoch("s") // pl.col("seconds")).alias("slot"),
    )
    if water:
        prepared = (
            prepared.join(flow.select("mn", "time", "q"), on=["mn", "time"], how="left")
            .join(period_flow, on=["mn", "start"], how="left")
            .with_columns(pl.coalesce("q", "q_mean").alias("w"))
        )
    else:  # no wastewater device sends flow: nothing to weigh, no joins to pay for
        prepared = prepared.with_columns(pl.lit(None, pl.Float64).alias("w"), pl.lit(None, pl.Float64).alias("q_mean"))
    grouped = prepared.group_by(["mn", "factor", "start"]).agg(
        *_summaries(pl.col("slot").filter(pl.col("use")).n_unique()),
        pl.col("q_mean").first().alias("q_mean"),
        pl.col("seconds").first().alias("seconds"),
    )
    has_cycles = bool(rules.cycle_factors) and grouped["factor"].is_in(list(rules.cycle_factors)).any()
    judged = cycle_judged(frame, rules) if has_cycles else None
    if judged is None or judged.is_empty():
        grouped = grouped.with_columns(pl.lit(value=False).alias("cycle"))
    else:
        marked = judged.with_columns(pl.lit(value=True).alias("cycle"))
        grouped = grouped.join(marked, on=["mn", "factor"], how="left").with_columns(pl.col("cycle").fill_null(False))
    valued = grouped.with_columns(_period_value(weighted), *_expected(rules))
    # a cycle analyser's hour holds one measurement however many records repeat it
    valued = valued.with_columns(pl.min_horizontal("n_valid", "n_expected").alias("n_valid"))
    valued = valued.with_columns((pl.col("n_valid") >= pl.col("need")).alias("valid"))
    valued = _with_bounds(valued, prepared, ["mn", "factor", "start"], weighted=weighted, rules=rules)
    flow_units = {mn: o.flow_unit for mn, o in outlets.items() if o.flow_unit}
    dry = frozenset(mn for mn, o in outlets.items() if o.flow_basis == STANDARD_DRY)
    return standard_and_loads(_corrected(valued, outlets, rules), rules, flow_units, dry).select(
        "mn",
        "factor",
        pl.lit("hour").alias("period"),
        pl.col("start").alias("time"),
        "value",
        "corrected",
        "valid",
        "n_valid",
        "q_mean",
        "standard",
        "load",
        "bound",
        "bound_corrected",
        "n_expected",
    )


def _with_bounds(
    valued: pl.DataFrame,
    prepared: pl.DataFrame,
    keys: list[str],
    *,
    weighted: pl.Expr,
    rules: Rules,
) -> pl.DataFrame:
    """``bound``: the period's mean taking its over-range (T) minutes at their reading, a lower
    bound of the true mean that proves an exceedance the valid minutes alone cannot (T is not
    averaged as a normal value, but it counts toward exceedance: screening-rules.md §2). Set only
    for periods with such minutes and enough valid and over-range minutes together."""
    over = pl.col("flag").is_in(list(rules.bound_flags)) & pl.col("value").is_not_null() & (pl.col("factor") != PH)
    touched = prepared.filter(over).select(keys).unique()
    if touched.is_empty():  # the common case costs one scan
        return valued.with_columns(pl.lit(None, pl.Float64).alias("bound"))
    counted = pl.col("use") | over
    need = valued.select(*keys, "need")
    bounds = (
        prepared.join(touched, on=keys, how="semi")
        .group_by(keys)
        .agg(
            pl.col("slot").filter(counted).n_unique().alias("n_bound"),
            pl.col("value").filter(counted).mean().alias("b_mean"),
            ((pl.col("value") * pl.col("w")).filter(counted).sum() / pl.col("w").filter(counted).sum()).alias("b_fw"),
            pl.col("w").filter(counted).sum().alias("b_w"),
        )
        .join(need, on=keys, how="left")
        .filter(pl.col("n_bound") >= pl.col("need"))
        .drop("need")
    )
    return (
        valued.join(bounds, on=keys, how="left")
        .with_columns(
            pl.when(pl.col("n_bound").is_null())
            .then(None)
            .when(weighted & (pl.col("b_w") > 0))
            .then(pl.col("b_fw"))
            .otherwise(pl.col("b_mean"))
            .alias("bound")
        )
        .drop("n_bound", "b_mean", "b_fw", "b_w")
    )


def _summaries(count: pl.Expr) -> list[pl.Expr]:
    """Over the period's usable inputs (``use``): their ``count``, plain mean, flow-weighted mean
    (weights ``w``) and the weights' sum, and the reading farthest from 7 (for pH)."""
    use = pl.col("use")
    valued = pl.col("value").filter(use)
    return [
        count.alias("n_valid"),
        valued.mean().alias("mean"),
        ((pl.col("value") * pl.col("w")).filter(use).sum() / pl.col("w").filter(use).sum()).alias("fw"),
        pl.col("w").filter(use).sum().alias("w_sum"),
        valued.get((valued - 7).abs().arg_max()).alias("far"),
    ]


def _period_value(weighted: pl.Expr) -> pl.Expr:
    """pH at its extreme reading; wastewater flow-weighted where there was flow to weigh by (a
    stopped outfall has none: the plain mean); everything else the plain mean."""
    return (
        pl.when(pl.col("factor") == PH)
        .then(pl.col("far"))
        .when(weighted & (pl.col("w_sum") > 0))
        .then(pl.col("fw"))
        .otherwise(pl.col("mean"))
        .alias("value")
    )


def _corrected(frame: pl.DataFrame, outlets: dict[str, Outlet], rules: Rules) -> pl.DataFrame:
    refs = {mn: (o.o2_ref if o.o2_ref is not None else rules.default_o2_ref.get(mn)) for mn, o in outlets.items()}
    # an invalid O2 hour corrects nothing: the concentration stays uncorrected (null), never raw
    o2 = frame.filter((pl.col("factor") == O2) & pl.col("valid")).select("mn", "start", pl.col("value").alias("o2"))
    ref = pl.DataFrame(
        {"mn": list(refs), "o2_ref": [refs[m] for m in refs]}, schema={"mn": pl.String, "o2_ref": pl.Float64}
    )
    joined = frame.join(o2, on=["mn", "start"], how="left").join(ref, on="mn", how="left")
    correctable = (
        pl.col("o2_ref").is_not_null()
        & pl.col("o2").is_not_null()
        & pl.col("factor").str.slice(0, 2).is_in(list(CORRECTED_PREFIXES))
    )
    applies = correctable & (pl.col("o2") < rules.o2_guard)
    # at O2 at or above the guard the factor (21 − ref)/(21 − O2) cannot be computed, but above the
    # reference it exceeds 1: the measured value is a lower bound of the corrected one, so a
    # device cannot drop its worst hours from a corrected day by driving its O2 up
    lower = correctable & (pl.col("o2") >= rules.o2_guard) & (pl.col("o2") > pl.col("o2_ref"))
    factor = (21 - pl.col("o2_ref")) / (21 - pl.col("o2"))
    return joined.with_columns(
        pl.when(applies).then(pl.col("value") * factor).alias("corrected"),
        pl.when(applies)
        .then(pl.col("bound") * factor)
        .when(lower)
        .then(pl.when(pl.col("bound").is_not_null()).then(pl.col("bound")).when(pl.col("valid")).then(pl.col("value")))
        .alias("bound_corrected"),
    )


def _days(hours: pl.DataFrame, outlets: dict[str, Outlet], rules: Rules) -> pl.DataFrame:
    water = _weighted_devices(hours, outlets)
    weighted = pl.col("mn").is_in(water) & (pl.col("factor") != WATER_FLOW) & (pl.col("factor") != PH)
    staged = hours.with_columns(pl.col("time").dt.truncate("1d").alias("day"), pl.col("valid").alias("use"))
    # an hour without valid flow is weighed by the day's mean hourly flow
    staged = staged.with_columns(pl.coalesce("q_mean", pl.col("q_mean").mean().over(["mn", "day"])).alias("w"))
    use = pl.col("use")
    days = staged.group_by(["mn", "factor", "day"]).agg(
        *_summaries(use.sum()),
        pl.col("corrected").filter(use).mean().alias("corrected"),
        pl.col("corrected").filter(use).count().alias("n_corrected"),
        pl.col("standard").filter(use).mean().alias("standard"),
        pl.col("load").sum().alias("load"),
        pl.col("load").is_not_null().any().alias("has_load"),
    )
    days = _day_needs(days, hours, rules)
    days = _day_bounds(days, staged, weighted)
    # no day holds more valid inputs than it should (a cycle analyser measuring more often than
    # its cycle says)
    days = days.with_columns(pl.min_horizontal("n_valid", "n_expected").alias("n_valid"))
    return days.select(
        "mn",
        "factor",
        pl.lit("day").alias("period"),
        pl.col("day").alias("time"),
        _period_value(weighted),
        # a day's corrected mean stands on as many hours as its validity does: 5 correctable hours
        # of 22 valid ones (an O2 analyser down most of the day) give no corrected value, so a
        # corrected-basis limit does not judge the day (and R19 raises the gap) [D]
        pl.when((pl.col("n_corrected") >= pl.col("need")) | (pl.col("n_corrected") == pl.col("n_valid")))
        .then(pl.col("corrected"))
        .alias("corrected"),
        (pl.col("n_valid") >= pl.col("need")).alias("valid"),
        "n_valid",
        pl.lit(None, pl.Float64).alias("q_mean"),
        "standard",
        pl.when(pl.col("has_load")).then(pl.col("load")).alias("load"),
        "bound",
        "bound_corrected",
        "n_expected",
    )


def _day_needs(days: pl.DataFrame, hours: pl.DataFrame, rules: Rules) -> pl.DataFrame:
    """``n_expected`` and ``need`` of each day: 24 hours and ``min_valid_hours`` of them; for a
    cycle analyser, the measurements its cycle implies (24 / cycle) and 75 % of them."""
    plain = days.with_columns(
        pl.lit(HOURS_PER_DAY, pl.Int64).alias("n_expected"), pl.lit(rules.min_valid_hours, pl.Int64).alias("need")
    )
    by_cycle = hours.filter(pl.col("factor").is_in(list(rules.cycle_factors)) & (pl.col("n_expected") == 1))
    if by_cycle.is_empty():
        return plain
    cycles = cycle_hours(by_cycle, rules).with_columns(
        (HOURS_PER_DAY // pl.col("cycle_h")).cast(pl.Int64).alias("c_expected")
    )
    needs = {e: required(e, rules.cycle_day_share) for e in {HOURS_PER_DAY // h for h in rules.cycle_hours}}
    return (
        plain.join(cycles, on=["mn", "factor"], how="left")
        .with_columns(
            pl.coalesce("c_expected", "n_expected").alias("n_expected"),
            pl.when(pl.col("c_expected").is_not_null())
            .then(pl.col("c_expected").replace_strict(needs, return_dtype=pl.Int64))
            .otherwise(pl.col("need"))
            .alias("need"),
        )
        .drop("cycle_h", "c_expected")
    )


def _day_bounds(days: pl.DataFrame, staged: pl.DataFrame, weighted: pl.Expr) -> pl.DataFrame:
    """A day's lower bound, where any of its hours has one: the mean over the hours that are valid
    or bounded, each at its bound where it has one; needs as many such hours as a valid day."""
    keys = ["mn", "factor", "day"]
    touched = (
        staged.filter(pl.col("bound").is_not_null() | pl.col("bound_corrected").is_not_null()).select(keys).unique()
    )
    if touched.is_empty():
        return days.with_columns(
            pl.lit(None, pl.Float64).alias("bound"), pl.lit(None, pl.Float64).alias("bound_corrected")
        )
    counted = pl.col("use") | pl.col("bound").is_not_null() | pl.col("bound_corrected").is_not_null()
    high = pl.coalesce("bound", "value")
    bounds = (
        staged.join(touched, on=keys, how="semi")
        .group_by(keys)
        .agg(
            counted.sum().alias("n_bound"),
            high.filter(counted).mean().alias("b_mean"),
            ((high * pl.col("w")).filter(counted).sum() / pl.col("w").filter(counted).sum()).alias("b_fw"),
            pl.col("w").filter(counted).sum().alias("b_w"),
            pl.coalesce("bound_corrected", "corrected").filter(counted).mean().alias("bound_corrected"),
            pl.col("bound").is_not_null().any().alias("has_bound"),
        )
        .join(days.select(*keys, "need"), on=keys, how="left")
        .filter(pl.col("n_bound") >= pl.col("need"))
        .drop("need")
    )
    return days.join(bounds, on=keys, how="left").with_columns(
        pl.when(pl.col("n_bound").is_null() | ~pl.col("has_bound"))
        .then(None)
        .when(weighted & (pl.col("b_w") > 0))
        .then(pl.col("b_fw"))
        .otherwise(pl.col("b_mean"))
        .alias("bound")
    )


def _weighted_devices(frame: pl.DataFrame, outlets: dict[str, Outlet]) -> list[str]:
    """Wastewater devices that send flow: their concentrations are flow-weighted (the others'
    cannot be, and get plain means)."""
    with_flow = set(frame.filter(pl.col("factor") == WATER_FLOW)["mn"].unique())
    return [mn for mn, o in outlets.items() if o.medium == "water" and mn in with_flow]


def read_minutes(path: str, flag_map: dict[str, str] | None = None, rules: Rules | None = None) -> pl.DataFrame:
    """Read ``mn,factor,time,value,flag`` from CSV or Parquet; unknown flags and bad times are errors."""
    rules = rules or Rules()
    frame = pl.read_parquet(path) if path.endswith(".parquet") else pl.read_csv(path, infer_schema=False)
    missing = {"mn", "factor", "time", "value", "flag"} - set(frame.columns)
    if missing:
        raise BadInput(f"{path}: missing columns {', '.join(sorted(missing))} (need mn,factor,time,value,flag)")
    frame = frame.with_row_index("row", offset=2).with_columns(
        pl.col("flag").fill_null("").replace(flag_map or {}),
        parse_utc(pl.col("time").cast(pl.String)).alias("parsed"),
        offset_missing(pl.col("time").cast(pl.String)).alias("naive"),
    )
    naive = frame.filter(pl.col("naive"))
    if naive.height:
        row = naive.row(0, named=True)
        raise BadInput(f"row {row['row']}: {no_offset('time', row['time'])}")
    bad_time = frame.filter(pl.col("parsed").is_null())
    if bad_time.height:
        row = bad_time.row(0, named=True)
        raise BadInput(f"row {row['row']}: time {row['time']!r} is not ISO 8601 with an offset")
    text = pl.col("value").cast(pl.String).str.strip_chars()
    frame = frame.with_columns(text.cast(pl.Float64, strict=False).alias("number"))
    number = pl.col("number")
    not_number = frame.filter(number.is_null() & text.is_not_null() & (text != ""))
    if not_number.height:
        row = not_number.row(0, named=True)
        raise BadInput(f"row {row['row']}: value {row['value']!r} is not a number")
    not_finite = frame.filter(number.is_nan() | number.is_infinite())
    if not_finite.height:
        row = not_finite.row(0, named=True)
        raise BadInput(f"row {row['row']}: value {row['value']!r} is not a finite number")
    unknown = frame.filter(~pl.col("flag").is_in(list(rules.known_flags)))
    if unknown.height:
        row = unknown.row(0, named=True)
        raise BadInput(f"row {row['row']}: flag {row['flag']!r} is not an HJ 212 data flag (map it with --flag-map)")
    return frame.select("mn", "factor", pl.col("parsed").alias("time"), number.alias("value"), "flag")


def write_output(frame: pl.DataFrame, path: str) -> None:
    out = frame.select(
        "mn",
        "factor",
        "period",
        pl.col("time").dt.convert_time_zone(CST).dt.strftime("%Y-%m-%dT%H:%M:%S%:z").alias("time"),
        "value",
        "corrected",
        pl.col("valid").cast(pl.String).str.to_lowercase(),
        "n_valid",
        "n_expected",
    )
    out.write_csv(path)
