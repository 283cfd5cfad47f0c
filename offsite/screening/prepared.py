"""The series the detectors read, aligned once: each pollutant reading with its device's step,
whether the plant was operating, the flow, O2 and power at that moment, its limit, detection
limit and range, and whether an approved mark covers it.

"Operating" (screening-rules.md §4): production running — flow above a tenth of the device's
median flow, or production power above a tenth of its median running level — and no approved
stop mark. A device with neither signal is taken as operating.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from offsite.screening.inputs import Inputs

GAS_FLOW, WATER_FLOW, O2 = "a00000", "w00000", "a19001"
PRODUCTION, TREATMENT = "power:production", "power:treatment"
CONTEXT = frozenset(
    {GAS_FLOW, WATER_FLOW, O2, PRODUCTION, TREATMENT, "a01011", "a01012", "a01013", "a01014", "a01017", "a01006"}
)
"""Series that describe the process rather than what is discharged: not screened as pollutants."""
STOP_KINDS = ("stopped", "shutdown")
ACTIVE_SHARE = 0.1


@dataclass(frozen=True, slots=True)
class Prepared:
    pollutants: pl.DataFrame
    """mn, factor, time, value, flag, step (s), operating, flow, o2, production, treatment, limit,
    basis, detection_limit, range_max, marked; sorted by mn, factor, time."""
    context: pl.DataFrame
    """mn, time, flow, o2, production, treatment, operating, known (whether flow or production
    power said so, rather than assumed) at every time the device sent anything."""
    steps: pl.DataFrame
    """mn, step: each device's spacing in seconds (60 for minute data, 3600 for hourly)."""
    inputs: Inputs


def prepare(inputs: Inputs) -> Prepared:
    data = inputs.data.sort("mn", "factor", "time")
    steps = _steps(data)
    context = _context(data, inputs)
    pollutants = (
        data.filter(~pl.col("factor").is_in(list(CONTEXT)))
        .join(steps, on="mn", how="left")
        .join(context, on=["mn", "time"], how="left")
        .join(inputs.limits.select("mn", "factor", "limit", "basis"), on=["mn", "factor"], how="left")
        .join(inputs.devices.select("mn", "factor", "detection_limit", "range_max"), on=["mn", "factor"], how="left")
        .sort("mn", "factor", "time")
    )
    pollutants = _marked(pollutants, inputs.marks)
    return Prepared(pollutants, context, steps, inputs)


def _steps(data: pl.DataFrame) -> pl.DataFrame:
    """A device's step: the commonest spacing of its readings of one factor."""
    spacing = (
        data.filter(~pl.col("factor").str.starts_with("power:"))
        .with_columns(pl.col("time").diff().over("mn", "factor").dt.total_seconds().alias("gap"))
        .filter(pl.col("gap") > 0)
        .group_by("mn")
        .agg(pl.col("gap").mode().min().alias("step"))
    )
    return spacing.with_columns(pl.col("step").cast(pl.Int64))


def _context(data: pl.DataFrame, inputs: Inputs) -> pl.DataFrame:
    times = data.filter(~pl.col("factor").str.starts_with("power:")).select("mn", "time").unique().sort("mn", "time")
    frame = times
    for factors, name in (([GAS_FLOW, WATER_FLOW], "flow"), ([O2], "o2")):
        series = (
            data.filter(pl.col("factor").is_in(factors)).group_by("mn", "time").agg(pl.col("value").first().alias(name))
        )
        frame = frame.join(series, on=["mn", "time"], how="left")
    for factor, name in ((PRODUCTION, "production"), (TREATMENT, "treatment")):
        # meters read every few minutes: each moment takes the last reading within half an hour
        power = (
            data.filter(pl.col("factor") == factor).select("mn", "time", pl.col("value").alias(name)).sort("mn", "time")
        )
        frame = frame.sort("mn", "time").join_asof(
            power, on="time", by="mn", strategy="backward", tolerance="30m", check_sortedness=False
        )
    flow_on = pl.col("flow") > ACTIVE_SHARE * pl.col("flow").median().over("mn")
    running = pl.col("production").filter(pl.col("production") > 0).median().over("mn")
    production_on = pl.col("production") > ACTIVE_SHARE * running
    operating = pl.any_horizontal(production_on, flow_on).fill_null(value=True)
    known = pl.col("flow").is_not_null() | pl.col("production").is_not_null()
    frame = frame.with_columns(operating.alias("operating"), known.alias("known"))
    stops = inputs.marks.filter(pl.col("approved") & pl.col("kind").is_in(STOP_KINDS))
    if stops.height:
        inside = _inside(frame.select("mn", "time"), stops)
        frame = (
            frame.join(inside, on=["mn", "time"], how="left")
            .with_columns((pl.col("operating") & ~pl.col("inside").fill_null(value=False)).alias("operating"))
            .drop("inside")
        )
    return frame


def _marked(pollutants: pl.DataFrame, marks: pl.DataFrame) -> pl.DataFrame:
    approved = marks.filter(pl.col("approved"))
    if approved.is_empty():
        return pollutants.with_columns(pl.lit(value=False).alias("marked"))
    inside = _inside(pollutants.select("mn", "time").unique(), approved)
    return (
        pollutants.join(inside, on=["mn", "time"], how="left")
        .with_columns(pl.col("inside").fill_null(value=False).alias("marked"))
        .drop("inside")
    )


def _inside(times: pl.DataFrame, windows: pl.DataFrame) -> pl.DataFrame:
    """``mn, time, inside`` for the times that fall in one of the windows (``mn, start, end``)."""
    return (
        times.join(windows.select("mn", "start", "end"), on="mn")
        .filter((pl.col("time") >= pl.col("start")) & (pl.col("time") < pl.col("end")))
        .select("mn", "time", pl.lit(value=True).alias("inside"))
        .unique()
    )
