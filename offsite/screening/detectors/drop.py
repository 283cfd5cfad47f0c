"""R05 突降: a reading at or near the limit falls by half or more within minutes, while flow, O2
and production power hold steady (a legitimate load drop moves them together) and no mark
explains it."""

from __future__ import annotations

from typing import Any

import polars as pl

from offsite.screening.detectors.common import points, valid
from offsite.screening.hits import clock, empty, finish, name, number, runs, unit
from offsite.screening.prepared import Prepared

COVARIATES = ("flow", "o2", "production")


def detect(p: Prepared, params: dict[str, Any]) -> pl.DataFrame:
    frame = valid(p.pollutants).filter(pl.col("limit").is_not_null())
    if frame.is_empty():
        return empty()
    frame = frame.with_columns(points(params["minutes"], params["hours"]).alias("w"))
    parts = []
    for (width,), part in frame.group_by("w", maintain_order=True):
        seconds = int(width) * int(part["step"][0])
        window = f"{seconds}s"
        # the highest reading in the window before this one (by time: a gap does not stretch it)
        peak = pl.col("value").rolling_max_by("time", window, closed="left").over("mn", "factor")
        steady = _steadiness(p.context.filter(pl.col("mn").is_in(part["mn"].unique().implode())), seconds, params)
        parts.append(
            part.with_columns(peak.alias("peak")).join(steady, on=["mn", "time"], how="left", maintain_order="left")
        )
    # a device's readings all fall in one part (one step each): the series stay whole and in order
    frame = pl.concat(parts)
    fell = (
        (pl.col("peak") >= params["alpha"] * pl.col("limit"))
        & (pl.col("value") <= (1 - params["drop"]) * pl.col("peak"))
        & pl.col("steady").fill_null(value=True)
        & pl.col("operating")
        & ~pl.col("marked")
    )
    found = runs(
        frame,
        fell,
        aggs=[
            pl.col("peak").max().alias("peak"),
            pl.col("value").min().alias("low"),
            pl.col("limit_nominal").first().alias("limit"),
            pl.col("limit_corrected").first().alias("corrected"),
            pl.col("checked").fill_null(value=False).all().alias("checked"),
        ],
    )
    depth = 1 - pl.col("low") / pl.col("peak")
    return finish(
        found.with_columns(
            # without flow, O2 or power to compare, a load change cannot be ruled out
            (
                pl.when(pl.col("checked")).then(0.7).otherwise(0.45)
                + 0.3 * ((depth - params["drop"]) / (1 - params["drop"])).clip(0, 1)
            ).alias("score"),
            pl.format(
                "{} 在 {}–{} 由 {} 降至 {} {}（降幅 {}%，限值 {}{}），{}",
                name(pl.col("factor")),
                clock(pl.col("start")),
                clock(pl.col("end")),
                number(pl.col("peak")),
                number(pl.col("low")),
                unit(pl.col("factor")),
                (depth * 100).round(0).cast(pl.Int64).cast(pl.String),
                number(pl.col("limit")),
                pl.when(pl.col("corrected")).then(pl.lit("，按折算浓度判定")).otherwise(pl.lit("")),
                pl.when(pl.col("checked"))
                .then(pl.lit("同期流量、O2 无明显变化"))
                .otherwise(pl.lit("无流量、O2 或用电数据可对照")),
            ).alias("summary"),
        ),
        "R05",
    )


def _steadiness(context: pl.DataFrame, seconds: int, params: dict[str, Any]) -> pl.DataFrame:
    """``mn, time, steady``: flow, O2 and production power averaged over the window before each
    moment and over the window from it differ by less than ``covariate_change`` (relative); a
    covariate that is not measured does not count against it."""
    window = f"{seconds}s"
    means = context.with_columns(  # the context is in device and time order
        [pl.col(c).rolling_mean_by("time", window, closed="left").over("mn").alias(f"{c}_before") for c in COVARIATES]
        + [pl.col(c).rolling_mean_by("time", window, closed="right").over("mn").alias(f"{c}_to") for c in COVARIATES]
    )
    # the mean of the window from a moment is the trailing mean found one window later
    ahead = means.select("mn", "time", *[f"{c}_to" for c in COVARIATES]).rename(
        {f"{c}_to": f"{c}_after" for c in COVARIATES}
    )
    joined = means.with_columns((pl.col("time") + pl.duration(seconds=seconds - 1)).alias("ahead")).join_asof(
        ahead.rename({"time": "ahead"}),
        on="ahead",
        by="mn",
        strategy="backward",
        check_sortedness=False,
    )
    moved = [
        (
            (pl.col(f"{c}_after") - pl.col(f"{c}_before")).abs() / pl.col(f"{c}_before").abs()
            >= params["covariate_change"]
        ).fill_null(value=False)
        for c in COVARIATES
    ]
    measured = pl.any_horizontal([pl.col(f"{c}_before").is_not_null() for c in COVARIATES])
    return joined.select("mn", "time", (~pl.any_horizontal(moved)).alias("steady"), measured.alias("checked"))
