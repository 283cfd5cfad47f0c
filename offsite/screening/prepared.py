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

from offsite.quality.markkinds import MarkKinds, mark_kinds
from offsite.screening.detectors.common import new_series
from offsite.screening.inputs import Inputs
from offsite.settings import get_settings

GAS_FLOW, WATER_FLOW, O2, TEMPERATURE = "a00000", "w00000", "a19001", "a01012"
PRODUCTION, TREATMENT = "power:production", "power:treatment"
CONTEXT = frozenset(
    {GAS_FLOW, WATER_FLOW, O2, PRODUCTION, TREATMENT, "a01011", "a01012", "a01013", "a01014", "a01017", "a01006"}
)
"""Series that describe the process rather than what is discharged: not screened as pollutants."""
O2_NO_CORRECTION = 19.5
"""At or above this O2 (%) a reading is not corrected (HJ 75-2017, as ``quality.rules`` applies it)."""
ACTIVE_SHARE = 0.1


def kinds_in_use() -> MarkKinds:
    """The mark kinds table in use: the packaged one, or ``mark_kinds_file``."""
    return mark_kinds(get_settings().mark_kinds_file)


def stop_kinds() -> tuple[str, ...]:
    """Mark kinds that say the plant did not run: those the kinds table in use flags ``stop``."""
    return kinds_in_use().stop_keys()


@dataclass(frozen=True, slots=True)
class Prepared:
    pollutants: pl.DataFrame
    """Sorted by series (each mn, factor's rows together, in time order): mn, factor, time,
    value, flag, step (s), operating, flow, o2, temperature (flue gas), production, treatment, limit
    (on the measured scale at that reading: see ``_measured_scale``), limit_nominal,
    limit_corrected (whether it was restated so), uncorrectable (a corrected-basis limit with no
    correction possible at that reading: its ``limit`` is null, rule R19 reports it), basis, o2_ref,
    detection_limit, range_max, marked."""
    context: pl.DataFrame
    """mn, time, flow, o2, temperature, production, treatment, operating, known (whether flow or production
    power said so, rather than assumed) at every time the device sent anything."""
    steps: pl.DataFrame
    """mn, step: each device's spacing in seconds (60 for minute data, 3600 for hourly)."""
    inputs: Inputs


def prepare(inputs: Inputs) -> Prepared:
    # Every detector works series by series (device and factor) and reads each series' rows
    # together and in time order, which lets it find series boundaries by comparing a row with
    # the one before instead of grouping. Exports and the store give the series so already:
    # checking costs a fraction of the sort it saves.
    data = inputs.data
    if data.height and not _in_series_order(data):
        data = data.sort("mn", "factor", "time")
    # one integer per (device, moment): joins and sorts on it cost a fraction of those on the
    # device's string and the time
    data = data.with_columns(moment().alias("_k"))
    steps = _steps(data)
    context = _context(data, inputs)
    pollutants = (
        data.filter(~pl.col("factor").is_in(list(CONTEXT)))
        .join(steps, on="mn", how="left", maintain_order="left")
        .join(context.drop("mn", "time"), on="_k", how="left", maintain_order="left")
        .drop("_k")
        .join(_limits(inputs.limits), on=["mn", "factor"], how="left", maintain_order="left")
        .join(
            inputs.devices.select("mn", "factor", "detection_limit", "range_max"),
            on=["mn", "factor"],
            how="left",
            maintain_order="left",
        )
    )
    pollutants = _operating(pollutants.with_columns(_measured_scale()), inputs.marks)
    return Prepared(pollutants, context.drop("_k"), steps, inputs)


def moment() -> pl.Expr:
    """One integer per device and moment: the device (its number as a categorical) in the high
    bits, the second (from 1970) in the low."""
    device = pl.col("mn").cast(pl.Categorical).to_physical().cast(pl.Int64)
    return device * (1 << 40) + pl.col("time").dt.epoch("s")


def _in_series_order(data: pl.DataFrame) -> bool:
    """Each (mn, factor) series' rows together, and in time order. Power readings do not count:
    meters are often exported by time, and their readers sort what they take."""
    new = new_series()
    ordered, firsts, series = (
        data.lazy()
        .filter(~pl.col("factor").str.starts_with("power:"))
        .select(
            ((pl.col("time").diff() >= pl.duration(seconds=0)) | new).fill_null(value=True).all(),
            new.sum().alias("firsts"),
            # a series that starts more than once is not together
            pl.struct("mn", "factor").filter(new).n_unique().alias("series"),
        )
        .collect()
        .row(0)
    )
    return bool(ordered) and firsts == series


def _limits(limits: pl.DataFrame) -> pl.DataFrame:
    o2_ref = pl.col("o2_ref") if "o2_ref" in limits.columns else pl.lit(None)
    return limits.select("mn", "factor", "limit", "basis", o2_ref.cast(pl.Float64).alias("o2_ref"))


def _measured_scale() -> list[pl.Expr]:
    """A limit on the corrected basis, restated at each reading's O2 as the measured
    concentration that would correct to it: C_lim × (21 − O2)/(21 − O2ref). Rules compare
    readings with limits; this way they judge what the standard judges (the corrected value),
    and ``limit_nominal`` keeps the standard's own number for summaries. No O2, no reference O2,
    or O2 ≥ 19.5 % (where no correction applies, HJ 75): no limit at that reading — the measured
    concentration of a diluted flue reads several times low, so judging it against the nominal
    limit would let the dilution pass — and ``uncorrectable`` says so (rule R19)."""
    on_corrected = (pl.col("basis") == "corrected").fill_null(value=False)
    possible = pl.col("o2").is_not_null() & pl.col("o2_ref").is_not_null() & (pl.col("o2") < O2_NO_CORRECTION)
    corrects = (on_corrected & possible).fill_null(value=False)
    return [
        pl.col("limit").alias("limit_nominal"),
        corrects.alias("limit_corrected"),
        (on_corrected & ~corrects & pl.col("limit").is_not_null()).alias("uncorrectable"),
        pl.when(corrects)
        .then(pl.col("limit") * (21.0 - pl.col("o2")) / (21.0 - pl.col("o2_ref")))
        .when(on_corrected)
        .then(None)
        .otherwise(pl.col("limit"))
        .alias("limit"),
    ]


def _steps(data: pl.DataFrame) -> pl.DataFrame:
    """A device's step: the commonest spacing between the first 1,000 readings of its series
    (data in series order), the shortest of equally common ones."""
    index = pl.int_range(pl.len())
    # counting each (device, spacing) costs a quarter of taking a mode per device
    return (
        data.lazy()
        .filter(~pl.col("factor").str.starts_with("power:"))
        .with_columns(
            (index - pl.when(new_series()).then(index).forward_fill()).alias("_i"),
            pl.col("time").diff().dt.total_seconds().alias("gap"),
        )
        .filter((pl.col("_i") > 0) & (pl.col("_i") < 1000) & (pl.col("gap") > 0))
        .group_by("mn", "gap")
        .agg(pl.len().alias("n"))
        .sort("n", "gap", descending=[True, False])
        .group_by("mn", maintain_order=True)
        .first()
        .select("mn", pl.col("gap").cast(pl.Int64).alias("step"))
        .collect()
    )


def _context(data: pl.DataFrame, inputs: Inputs) -> pl.DataFrame:
    """Flow, O2, flue temperature and power at the times the device sent flow or O2."""

    def series(codes: list[str], name: str) -> pl.DataFrame:
        rows = data.filter(pl.col("factor").is_in(codes)).select("_k", "mn", "time", pl.col("value").alias(name))
        # in series order a repeated moment follows its first: dropping it needs no hashing
        repeated = (pl.col("_k") == pl.col("_k").shift(1)).fill_null(value=False)
        return rows.filter(~repeated)

    flow, o2 = series([GAS_FLOW, WATER_FLOW], "flow"), series([O2], "o2")
    if flow["_k"].equals(o2["_k"]):  # a flue sends both at every moment: nothing to join
        frame = flow.with_columns(o2["o2"])
    else:
        frame = flow.join(o2, on="_k", how="full", coalesce=True).select(
            "_k",
            pl.coalesce("mn", "mn_right").alias("mn"),
            pl.coalesce("time", "time_right").alias("time"),
            "flow",
            "o2",
        )
    temperature = series([TEMPERATURE], "temperature")
    if temperature.is_empty():  # many devices send none: no join to pay for
        frame = frame.with_columns(pl.lit(None, pl.Float64).alias("temperature"))
    elif temperature["_k"].equals(frame["_k"]):
        frame = frame.with_columns(temperature["temperature"])
    else:
        frame = frame.join(temperature.drop("mn", "time"), on="_k", how="left")
    frame = _with_power(frame.sort("_k"), data)
    flow_on = pl.col("flow") > ACTIVE_SHARE * pl.col("flow").median().over("mn")
    running = pl.col("production").filter(pl.col("production") > 0).median().over("mn")
    production_on = pl.col("production") > ACTIVE_SHARE * running
    operating = pl.any_horizontal(production_on, flow_on).fill_null(value=True)
    known = pl.col("flow").is_not_null() | pl.col("production").is_not_null()
    frame = frame.with_columns(operating.alias("operating"), known.alias("known"))
    return _outside_stops(frame, inputs.marks)


def _with_power(frame: pl.DataFrame, data: pl.DataFrame) -> pl.DataFrame:
    """Each moment takes the meter's last reading within half an hour (meters read every few minutes)."""
    for factor, name in ((PRODUCTION, "production"), (TREATMENT, "treatment")):
        power = data.filter(pl.col("factor") == factor).select("mn", "time", pl.col("value").alias(name))
        if power.is_empty():  # the common case: no meter, no as-of join to pay for
            frame = frame.with_columns(pl.lit(None, pl.Float64).alias(name))
            continue
        frame = frame.join_asof(
            power.sort("mn", "time"), on="time", by="mn", strategy="backward", tolerance="30m", check_sortedness=False
        )
    return frame


def _outside_stops(frame: pl.DataFrame, marks: pl.DataFrame) -> pl.DataFrame:
    # a stop mark on one factor says that analyser's data are marked, not that the plant stopped
    stops = marks.filter(pl.col("approved") & pl.col("kind").is_in(stop_kinds()) & pl.col("factor").is_null())
    if stops.is_empty():
        return frame
    inside = _inside(frame.filter(pl.col("mn").is_in(stops["mn"].implode())).select("mn", "time"), stops)
    return (
        frame.join(inside, on=["mn", "time"], how="left", maintain_order="left")
        .with_columns((pl.col("operating") & ~pl.col("inside").fill_null(value=False)).alias("operating"))
        .drop("inside")
    )


def _operating(pollutants: pl.DataFrame, marks: pl.DataFrame) -> pl.DataFrame:
    """Readings with no flow or O2 at their moment take the device's defaults: operating unless
    a stop mark covers them; and every reading learns whether an approved mark covers it."""
    pollutants = pollutants.with_columns(
        pl.col("operating").fill_null(value=True), pl.col("known").fill_null(value=False)
    )
    approved = marks.filter(pl.col("approved"))
    if approved.is_empty():
        return pollutants.with_columns(pl.lit(value=False).alias("marked"))
    whole, one = approved.filter(pl.col("factor").is_null()), approved.filter(pl.col("factor").is_not_null())
    touched = pollutants.filter(pl.col("mn").is_in(approved["mn"].implode())).select("mn", "time").unique()
    inside = _inside(touched, whole)
    stops = _inside(touched, whole.filter(pl.col("kind").is_in(stop_kinds()))).rename({"inside": "stopped"})
    # a mark with a factor covers that factor's readings only (a dust meter's maintenance leaves SO2 judged)
    if one.is_empty():  # the common case: no join to pay for
        on_factor = pollutants.clear().select("mn", "factor", "time", pl.lit(value=True).alias("factor_marked"))
    else:
        series = pollutants.filter(pl.col("mn").is_in(one["mn"].implode())).select("mn", "factor", "time").unique()
        on_factor = _inside(series, one, by=("mn", "factor")).rename({"inside": "factor_marked"})
    return (
        pollutants.join(inside, on=["mn", "time"], how="left", maintain_order="left")
        .join(stops, on=["mn", "time"], how="left", maintain_order="left")
        .join(on_factor, on=["mn", "factor", "time"], how="left", maintain_order="left")
        .with_columns(
            (pl.col("inside").fill_null(value=False) | pl.col("factor_marked").fill_null(value=False)).alias("marked"),
            (pl.col("operating") & ~pl.col("stopped").fill_null(value=False)).alias("operating"),
        )
        .drop("inside", "stopped", "factor_marked")
    )


def _inside(times: pl.DataFrame, windows: pl.DataFrame, *, by: tuple[str, ...] = ("mn",)) -> pl.DataFrame:
    """``*by, time, inside`` for the times that fall in one of the windows (``*by, start, end``)."""
    return (
        times.join(windows.select(*by, "start", "end"), on=list(by))
        .filter((pl.col("time") >= pl.col("start")) & (pl.col("time") < pl.col("end")))
        .select(*by, "time", pl.lit(value=True).alias("inside"))
        .unique()
    )
