"""Minute → hour → day for flue gas and wastewater, vectorised with Polars.

Input: long rows ``mn, factor, time, value, flag`` (minute data). Output: one row per
``mn, factor, period, time`` with the period's value, the reference-O2-corrected value (flue-gas
concentrations with a reference O2), whether the period is valid, and how many valid inputs it had.

- A minute counts if its flag is valid (N by default) and it has a value.
- Flue gas: arithmetic means of valid minutes; an hour is valid with ``min_valid_minutes``.
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

from offsite.quality.loads import standard_and_loads
from offsite.quality.rules import GAS_FLOW, GAS_MARKERS, NOT_CORRECTED, O2, PH, VELOCITY, WATER_FLOW, Rules

CST = "Asia/Shanghai"
OUTPUT = ("mn", "factor", "period", "time", "value", "corrected", "valid", "n_valid")


@dataclass(frozen=True, slots=True)
class Outlet:
    medium: str
    o2_ref: float | None = None
    area_m2: float | None = None


class BadInput(ValueError):
    """A row or column of the input that cannot be aggregated."""


def aggregate(
    minutes: pl.DataFrame, outlets: dict[str, Outlet] | None = None, rules: Rules | None = None
) -> pl.DataFrame:
    rules = rules or Rules()
    outlets = _outlets(minutes, outlets or {})
    hours = hourly(minutes, outlets, rules)
    days = daily(hours, outlets, rules)
    return pl.concat([hours, days]).sort(["mn", "factor", "period", "time"], descending=[False, False, True, False])


def hourly(minutes: pl.DataFrame, outlets: dict[str, Outlet], rules: Rules) -> pl.DataFrame:
    """Hour rows (``period`` = hour) of the minutes; every device in ``minutes`` needs an outlet.
    Besides the output columns: ``standard``, ``load`` and ``q_mean`` (the hour's mean valid
    wastewater flow, which weighs the hour in its day)."""
    return _periods(_prepare(minutes, outlets, rules), "1h", outlets, rules, minimum=rules.min_valid_minutes)


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
        (pl.col("flag").is_in(list(rules.valid_flags)) & pl.col("value").is_not_null()).alias("ok"),
    )
    derived = []
    for mn, outlet in outlets.items():  # flue-gas flow from velocity × cross-section where none is sent
        rows = frame.filter(pl.col("mn") == mn)
        if outlet.medium == "gas" and outlet.area_m2 and GAS_FLOW not in set(rows["factor"]):
            velocity = rows.filter(pl.col("factor") == VELOCITY)
            derived.append(velocity.with_columns(pl.lit(GAS_FLOW).alias("factor"), pl.col("value") * outlet.area_m2))
    return pl.concat([frame, *derived]) if derived else frame


def _periods(frame: pl.DataFrame, every: str, outlets: dict[str, Outlet], rules: Rules, minimum: int) -> pl.DataFrame:
    water = _weighted_devices(frame, outlets)
    weighted = pl.col("mn").is_in(water) & (pl.col("factor") != WATER_FLOW) & (pl.col("factor") != PH)
    flow = frame.filter((pl.col("factor") == WATER_FLOW) & pl.col("ok")).select(
        "mn", "time", pl.col("value").alias("q"), pl.col("time").dt.truncate(every).alias("start")
    )
    period_flow = flow.group_by(["mn", "start"]).agg(pl.col("q").mean().alias("q_mean"))
    # A concentration minute is valid by its own flag; flow only weighs it. A minute whose flow is
    # missing or invalid is weighed by the period's mean valid flow.
    prepared = frame.with_columns(pl.col("time").dt.truncate(every).alias("start"), pl.col("ok").alias("use"))
    if water:
        prepared = (
            prepared.join(flow.select("mn", "time", "q"), on=["mn", "time"], how="left")
            .join(period_flow, on=["mn", "start"], how="left")
            .with_columns(pl.coalesce("q", "q_mean").alias("w"))
        )
    else:  # no wastewater device sends flow: nothing to weigh, no joins to pay for
        prepared = prepared.with_columns(pl.lit(None, pl.Float64).alias("w"), pl.lit(None, pl.Float64).alias("q_mean"))
    grouped = prepared.group_by(["mn", "factor", "start"]).agg(*_summaries(), pl.col("q_mean").first().alias("q_mean"))
    valued = grouped.with_columns(_period_value(weighted), (pl.col("n_valid") >= minimum).alias("valid"))
    valued = _with_bounds(valued, prepared, ["mn", "factor", "start"], weighted=weighted, minimum=minimum, rules=rules)
    return standard_and_loads(_corrected(valued, outlets, rules), rules).select(
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
    )


def _with_bounds(
    valued: pl.DataFrame,
    prepared: pl.DataFrame,
    keys: list[str],
    *,
    weighted: pl.Expr,
    minimum: int,
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
    bounds = (
        prepared.join(touched, on=keys, how="semi")
        .group_by(keys)
        .agg(
            counted.sum().alias("n_bound"),
            pl.col("value").filter(counted).mean().alias("b_mean"),
            ((pl.col("value") * pl.col("w")).filter(counted).sum() / pl.col("w").filter(counted).sum()).alias("b_fw"),
            pl.col("w").filter(counted).sum().alias("b_w"),
        )
        .filter(pl.col("n_bound") >= minimum)
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


def _summaries() -> list[pl.Expr]:
    """Over the period's usable inputs (``use``): their count, plain mean, flow-weighted mean
    (weights ``w``) and the weights' sum, and the reading farthest from 7 (for pH)."""
    use = pl.col("use")
    valued = pl.col("value").filter(use)
    return [
        use.sum().alias("n_valid"),
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
    o2 = frame.filter(pl.col("factor") == O2).select("mn", "start", pl.col("value").alias("o2"))
    ref = pl.DataFrame(
        {"mn": list(refs), "o2_ref": [refs[m] for m in refs]}, schema={"mn": pl.String, "o2_ref": pl.Float64}
    )
    joined = frame.join(o2, on=["mn", "start"], how="left").join(ref, on="mn", how="left")
    applies = (
        pl.col("o2_ref").is_not_null()
        & pl.col("o2").is_not_null()
        & (pl.col("o2") < rules.o2_guard)
        & ~pl.col("factor").is_in(list(NOT_CORRECTED))
        & pl.col("factor").str.starts_with("a")
    )
    factor = (21 - pl.col("o2_ref")) / (21 - pl.col("o2"))
    return joined.with_columns(
        pl.when(applies).then(pl.col("value") * factor).alias("corrected"),
        pl.when(applies).then(pl.col("bound") * factor).alias("bound_corrected"),
    )


def _days(hours: pl.DataFrame, outlets: dict[str, Outlet], rules: Rules) -> pl.DataFrame:
    water = _weighted_devices(hours, outlets)
    weighted = pl.col("mn").is_in(water) & (pl.col("factor") != WATER_FLOW) & (pl.col("factor") != PH)
    staged = hours.with_columns(pl.col("time").dt.truncate("1d").alias("day"), pl.col("valid").alias("use"))
    # an hour without valid flow is weighed by the day's mean hourly flow
    staged = staged.with_columns(pl.coalesce("q_mean", pl.col("q_mean").mean().over(["mn", "day"])).alias("w"))
    use = pl.col("use")
    days = staged.group_by(["mn", "factor", "day"]).agg(
        *_summaries(),
        pl.col("corrected").filter(use).mean().alias("corrected"),
        pl.col("standard").filter(use).mean().alias("standard"),
        pl.col("load").sum().alias("load"),
        pl.col("load").is_not_null().any().alias("has_load"),
    )
    days = _day_bounds(days, staged, weighted, rules)
    return days.select(
        "mn",
        "factor",
        pl.lit("day").alias("period"),
        pl.col("day").alias("time"),
        _period_value(weighted),
        "corrected",
        (pl.col("n_valid") >= rules.min_valid_hours).alias("valid"),
        "n_valid",
        pl.lit(None, pl.Float64).alias("q_mean"),
        "standard",
        pl.when(pl.col("has_load")).then(pl.col("load")).alias("load"),
        "bound",
        "bound_corrected",
    )


def _day_bounds(days: pl.DataFrame, staged: pl.DataFrame, weighted: pl.Expr, rules: Rules) -> pl.DataFrame:
    """A day's lower bound, where any of its hours has one: the mean over the hours that are valid
    or bounded, each at its bound where it has one; needs ``min_valid_hours`` such hours."""
    keys = ["mn", "factor", "day"]
    touched = staged.filter(pl.col("bound").is_not_null()).select(keys).unique()
    if touched.is_empty():
        return days.with_columns(
            pl.lit(None, pl.Float64).alias("bound"), pl.lit(None, pl.Float64).alias("bound_corrected")
        )
    counted = pl.col("use") | pl.col("bound").is_not_null()
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
        )
        .filter(pl.col("n_bound") >= rules.min_valid_hours)
    )
    return days.join(bounds, on=keys, how="left").with_columns(
        pl.when(pl.col("n_bound").is_null())
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
        pl.col("time").cast(pl.String).str.to_datetime(time_zone="UTC", strict=False).alias("parsed"),
    )
    bad_time = frame.filter(pl.col("parsed").is_null())
    if bad_time.height:
        row = bad_time.row(0, named=True)
        raise BadInput(f"row {row['row']}: time {row['time']!r} is not ISO 8601 with an offset")
    unknown = frame.filter(~pl.col("flag").is_in(list(rules.known_flags)))
    if unknown.height:
        row = unknown.row(0, named=True)
        raise BadInput(f"row {row['row']}: flag {row['flag']!r} is not an HJ 212 data flag (map it with --flag-map)")
    return frame.select("mn", "factor", pl.col("parsed").alias("time"), "value", "flag")


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
    )
    out.write_csv(path)
