"""R10 工况逻辑: the data leave what the process says they should be.

(a) Regression. Per device and factor, the hourly means are regressed on the hourly process
    covariates the device has — flow, O2, flue temperature and production power — and hours whose
    residual is below −``z`` robust standard deviations for ``hours`` hours in a row fire. Only
    downward: a concentration that holds while the load falls is ordinary (the mass falls with
    the flow); one far below what the process implies is what under-reporting looks like. The
    fit is on the logarithm (offset by a tenth of the series' median, so readings near zero do
    not dominate): analysers' noise and a doctored reading are both proportional. The
    covariates are standardised per series and the fit is a small ridge (so a covariate a device
    lacks, or one that never moves, drops out instead of making the system singular), solved for
    every series at once as a stack of 5 × 5 systems (with the intercept), then again without
    the hours the first fit found beyond the threshold. A shortfall is judged only where it is
    material: the expected value at least ``material_share`` of the limit, or, without a limit,
    ten times the analyser's detection limit; a series with neither is not judged (a gas
    turbine's CO at 0.1 instead of 1.8 mg/m³ is real, and no officer's business).
(b) Scrubber bypass. Flue gas after a wet scrubber leaves saturated at roughly 45–60 ℃. A device
    whose flue temperature usually sits in that band and then climbs to raw-gas temperature, while
    the plant runs, had its scrubber bypassed or stopped, whatever the SO2 reading says.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from offsite.screening.detectors.common import hourly as common_hourly
from offsite.screening.detectors.common import new_series, valid
from offsite.screening.hits import HITS, clock, finish, name, number, runs
from offsite.screening.prepared import TEMPERATURE, Prepared

COVARIATES = ("flow", "o2", "temperature", "production")
"""Columns of the prepared readings: the process at the moment of each reading."""
NAMES_ZH = {"flow": "流量", "o2": "O2", "temperature": "烟温", "production": "生产用电"}
RIDGE = 0.01
"""Ridge weight per hour of the series, on standardised covariates: small enough to leave a real
relation alone, large enough to keep an absent covariate's coefficient at zero."""
SO2 = "a21026"


def detect(p: Prepared, params: dict[str, Any]) -> pl.DataFrame:
    return pl.concat([detect_residual(p, params), detect_bypass(p, params)])


def detect_residual(p: Prepared, params: dict[str, Any]) -> pl.DataFrame:
    hours = _with_covariates(p).filter(pl.len().over("_g") >= params["min_hours"])
    if hours.is_empty():  # no series long enough to fit
        return pl.DataFrame(schema=HITS)
    scored = _fit(hours, params["z"])
    # a shortfall matters only on a scale: a share of the limit, or well above the detection limit
    material = (
        pl.when(pl.col("limit").is_not_null())
        .then(pl.col("fitted") >= params["material_share"] * pl.col("limit"))
        .otherwise(pl.col("fitted") >= 10 * pl.col("detection_limit"))
        .fill_null(value=False)
    )
    found = runs(
        scored.rename({"hour": "time"}).with_columns(pl.lit(3600).alias("step")),
        (pl.col("z") < -params["z"]) & (pl.col("sigma") > 0) & material,
        aggs=[
            pl.col("y").mean().alias("observed"),
            pl.col("fitted").mean().alias("expected"),
            pl.col("z").min().abs().alias("z"),
            pl.col("used").first(),
        ],
    ).filter(pl.col("n") >= params["hours"])
    return finish(
        found.with_columns(
            (0.55 + 0.05 * pl.col("n")).clip(0.55, 0.75).alias("score"),
            pl.format(
                "{} 在 {}–{} 为 {}，按同期{}应约为 {}（低 {} 个稳健标准差），与工况不符",
                name(pl.col("factor")),
                clock(pl.col("start")),
                clock(pl.col("end")),
                number(pl.col("observed")),
                pl.col("used"),
                number(pl.col("expected")),
                number(pl.col("z")),
            ).alias("summary"),
        ),
        "R10",
    )


def _with_covariates(p: Prepared) -> pl.DataFrame:
    """Hourly means of each pollutant judged (valid, operating, unmarked) with its device's
    covariates at the same readings; hours with neither flow nor production power are left out
    (no load, nothing to compare). Sorted by series and numbered (``_g``) per series."""
    columns = ["value", "limit", "detection_limit", *COVARIATES]
    frame = (
        valid(p.pollutants)
        .filter(pl.col("operating") & ~pl.col("marked"))
        .with_columns(pl.col("detection_limit").cast(pl.Float64))
    )
    return (
        common_hourly(frame, columns)
        .rename({"value": "y"})
        .filter(pl.col("flow").is_not_null() | pl.col("production").is_not_null())
        .with_columns(new_series().cast(pl.Int64).cum_sum().alias("_g"))
    )


def _fit(hours: pl.DataFrame, z: float) -> pl.DataFrame:
    """``fitted`` (on the reading's own scale), ``r`` (residual of the log), ``sigma`` (its
    robust spread), ``z`` and ``used`` (the covariates that moved, in Chinese) for each hour.

    Fitted twice: the second time without the hours the first fit put beyond ``z``, so that the
    hours under suspicion do not drag the relation they are judged against."""
    names = list(COVARIATES)
    # per-series figures in one grouping, joined back on the series number
    stats = hours.group_by("_g").agg(
        (0.1 * pl.col("y").median()).clip(lower_bound=1e-3).alias("offset"),
        *[pl.col(c).mean().alias(f"mean_{c}") for c in names],
        *[pl.col(c).std().alias(f"std_{c}") for c in names],
    )
    moves = {c: (pl.col(f"std_{c}") > 1e-9).fill_null(value=False) for c in names}
    standard = [
        pl.when(moves[c])
        .then((pl.col(c) - pl.col(f"mean_{c}")) / pl.col(f"std_{c}"))
        .otherwise(0.0)
        .fill_null(0.0)
        .alias(f"z_{c}")
        for c in names
    ]
    named = [pl.when(moves[c]).then(pl.lit(NAMES_ZH[c])) for c in names]
    frame = (
        hours.join(stats, on="_g", how="left", maintain_order="left")
        .with_columns(*standard, pl.concat_str(named, separator="、", ignore_nulls=True).alias("used"))
        .with_columns(
            pl.col("y").alias("reading"),
            (pl.col("y").clip(lower_bound=0) + pl.col("offset")).log().alias("y"),
            pl.lit(1.0).alias("z_one"),
            pl.lit(1.0).alias("w"),
        )
        .drop([f"{k}_{c}" for k in ("mean", "std") for c in names])
    )
    first = _residuals(frame, ["one", *names])
    kept = first.with_columns((pl.col("z").abs() <= z).fill_null(value=True).cast(pl.Float64).alias("w"))
    second = _residuals(kept.drop("fitted", "r", "sigma", "z"), ["one", *names])
    return second.with_columns(
        (pl.col("fitted").exp() - pl.col("offset")).clip(lower_bound=0).alias("fitted"), pl.col("reading").alias("y")
    )


def _residuals(frame: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    """The weighted ridge fit of ``y`` on ``z_<name>`` per series ``_g`` (``w`` the weights; the
    intercept, ``one``, free of the ridge), with ``fitted``, ``r``, ``sigma`` and ``z``. The
    frame is sorted by series, so per-series sums are sums over contiguous slices: one stack of
    small systems for all series at once."""
    series = frame["_g"].to_numpy()
    starts = np.flatnonzero(np.r_[True, series[1:] != series[:-1]])
    lengths = np.diff(np.r_[starts, len(series)])
    # columns kept apart, each contiguous: slices of a row-major matrix would be strided
    design = [frame[f"z_{c}"].to_numpy() for c in names]
    y, weight = frame["y"].to_numpy(), frame["w"].to_numpy()
    weighted = [column * weight for column in design]
    k = len(names)
    gram = np.empty((len(starts), k, k))
    for i in range(k):
        for j in range(i, k):
            gram[:, i, j] = gram[:, j, i] = np.add.reduceat(weighted[i] * design[j], starts)
    right = np.stack([np.add.reduceat(weighted[i] * y, starts) for i in range(k)], axis=1)
    ridge = np.eye(k)
    ridge[0, 0] = 0.0
    gram += RIDGE * np.maximum(np.add.reduceat(weight, starts), 1.0)[:, None, None] * ridge
    gram[:, 0, 0] = np.maximum(gram[:, 0, 0], 1.0)  # a series with every hour set aside keeps a solvable system
    coefficients = np.linalg.solve(gram, right[:, :, None])[:, :, 0]
    fitted = sum(np.repeat(coefficients[:, i], lengths) * design[i] for i in range(k))
    residual = y - fitted
    # the spread of the residuals of the hours fitted, not of those set aside
    kept = pl.DataFrame({"_g": series, "r": residual}).filter(pl.Series(weight > 0))
    spread = kept.group_by("_g").agg((1.4826 * (pl.col("r") - pl.col("r").median()).abs().median()).alias("sigma"))
    sigma = np.full(len(starts), np.nan)
    sigma[np.searchsorted(series[starts], spread["_g"].to_numpy())] = spread["sigma"].to_numpy()
    spread_of_each = np.repeat(sigma, lengths)
    return frame.with_columns(
        pl.Series("fitted", fitted),
        pl.Series("r", residual),
        pl.Series("sigma", spread_of_each),
        pl.Series("z", residual / spread_of_each),
    )


def detect_bypass(p: Prepared, params: dict[str, Any]) -> pl.DataFrame:
    operating = p.context.select("mn", pl.col("time").dt.truncate("1h").alias("hour"), "operating")
    operating = operating.group_by("mn", "hour").agg(pl.col("operating").all())
    temperature = (
        p.inputs.data.lazy()
        .filter((pl.col("factor") == TEMPERATURE) & pl.col("value").is_not_null())
        .filter(pl.col("flag").is_null() | (pl.col("flag") == "N"))
        .group_by("mn", pl.col("time").dt.truncate("1h").alias("hour"))
        .agg(pl.col("value").mean().alias("temperature"))
        .collect()
    )
    if temperature.is_empty():
        return pl.DataFrame(schema=HITS)
    hours = (
        temperature.join(operating, on=["mn", "hour"], how="left")
        .filter(pl.col("operating").fill_null(value=True))
        .sort("mn", "hour")
        .with_columns(pl.col("temperature").median().over("mn").alias("usual"))
    )
    wet = pl.col("usual").is_between(params["wet_low"], params["wet_high"])
    hot = (pl.col("temperature") >= params["bypass_temperature"]) & (
        pl.col("temperature") >= pl.col("usual") + params["bypass_rise"]
    )
    found = runs(
        hours.rename({"hour": "time"}).with_columns(pl.lit(3600).alias("step")),
        wet & hot,
        aggs=[pl.col("temperature").max().alias("peak"), pl.col("usual").first()],
        keys=("mn",),
    ).filter(pl.col("n") >= params["bypass_hours"])
    if found.is_empty():
        return pl.DataFrame(schema=HITS)
    # the clue concerns SO2 where the device measures it: what the scrubber is there to remove
    has_so2 = p.pollutants.filter(pl.col("factor") == SO2).select("mn").unique().with_columns(pl.lit(SO2).alias("f"))
    return finish(
        found.join(has_so2, on="mn", how="left").with_columns(
            pl.col("f").fill_null(TEMPERATURE).alias("factor"),
            (0.6 + 0.05 * pl.col("n")).clip(0.6, 0.8).alias("score"),
            pl.format(
                "烟温在 {}–{} 升至 {} ℃（平时约 {} ℃，为湿法脱硫后的饱和烟温），疑似脱硫设施旁路或停运",
                clock(pl.col("start")),
                clock(pl.col("end")),
                number(pl.col("peak")),
                number(pl.col("usual")),
            ).alias("summary"),
        ),
        "R10",
    )
