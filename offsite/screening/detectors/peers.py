"""Comparisons with peers — the devices of the same industry (or, without industries, every device
screened together), profiled in a pass of their own:

- R07 (peers): a device-day with more maintenance, calibration or fault hours than the industry's
  P95 of device-days;
- R09 (peers): a device-day whose O2 median sits above the industry's P90 of hourly O2 while the
  pollutant runs well below the device's own usual level (air let in, or a leak).

Both need ``min_peers`` devices in the industry; with fewer, nobody is compared.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from offsite.screening.detectors.common import china_day, hourly, valid
from offsite.screening.hits import HITS, finish, name, number
from offsite.screening.prepared import Prepared

MAINTENANCE_FLAGS = ("M", "C", "D")


def _industry(p: Prepared, frame: pl.DataFrame) -> pl.DataFrame:
    given = p.inputs.industries
    if given.is_empty():
        return frame.with_columns(pl.lit("*").alias("industry"))
    return frame.join(given, on="mn", how="left").with_columns(pl.col("industry").fill_null("*"))


def detect_frequency(p: Prepared, params: dict[str, Any]) -> pl.DataFrame:
    # a device-day with nothing out of service counts as zero hours: only the days are needed
    days = p.pollutants.lazy().select("mn", china_day(pl.col("time")).alias("day")).unique().collect()
    flagged = p.pollutants.filter(pl.col("flag").is_in(MAINTENANCE_FLAGS)).with_columns(
        china_day(pl.col("time")).alias("day")
    )
    counted = flagged.group_by("mn", "day").agg(
        # hours out of service, per factor that was out
        (pl.col("step").sum() / pl.col("factor").n_unique() / 3600).alias("hours"),
        pl.col("time").min().alias("start"),
        (pl.col("time").max() + pl.duration(seconds=pl.col("step").max())).alias("end"),
    )
    per_day = days.join(counted, on=["mn", "day"], how="left").with_columns(pl.col("hours").fill_null(0.0))
    per_day = _industry(p, per_day)
    profile = per_day.group_by("industry").agg(
        pl.col("hours").quantile(params["peer_quantile"]).alias("typical"), pl.col("mn").n_unique().alias("peers")
    )
    odd = per_day.join(profile, on="industry").filter(
        (pl.col("peers") >= params["min_peers"])
        & (pl.col("hours") > pl.col("typical"))
        & (pl.col("hours") >= params["peer_min_hours"])
    )
    return finish(
        odd.with_columns(
            pl.lit("*").alias("factor"),
            pl.lit(0.5).alias("score"),
            pl.format(
                "{} 当日维护、校准或故障 {} 小时，高于同行业 {} 台设备日值的 {}% 分位（{} 小时）",
                pl.col("day").cast(pl.String),
                number(pl.col("hours")),
                pl.col("peers"),
                int(params["peer_quantile"] * 100),
                number(pl.col("typical")),
            ).alias("summary"),
        ),
        "R07",
    )


def detect_o2(p: Prepared, params: dict[str, Any]) -> pl.DataFrame:
    frame = valid(p.pollutants).filter(pl.col("o2").is_not_null() & pl.col("operating") & ~pl.col("marked"))
    if frame.is_empty():
        return pl.DataFrame(schema=HITS)
    hours = hourly(frame, ["value", "o2"])
    profile = (
        _industry(p, hours)
        .group_by("industry")
        .agg(pl.col("o2").quantile(params["peer_quantile"]).alias("o2_high"), pl.col("mn").n_unique().alias("peers"))
    )
    days = (
        hours.with_columns(china_day(pl.col("hour")).alias("day"))
        .group_by("mn", "factor", "day")
        .agg(
            pl.col("o2").median().alias("o2"),
            pl.col("value").mean().alias("value"),
            pl.col("hour").min().alias("start"),
            (pl.col("hour").max() + pl.duration(hours=1)).alias("end"),
            pl.len().alias("hours"),
        )
        # a day's median and the device's usual level mean little from a few hours of it
        .filter(pl.col("hours") >= params["peer_day_hours"])
        .with_columns(pl.col("value").median().over("mn", "factor").alias("usual"))
    )
    odd = (
        _industry(p, days)
        .join(profile, on="industry")
        .filter(
            (pl.col("peers") >= params["min_peers"])
            & (pl.col("o2") > pl.col("o2_high"))
            & (pl.col("value") < (1 - params["pollutant_fall"]) * pl.col("usual"))
        )
    )
    return finish(
        odd.with_columns(
            pl.lit(0.6).alias("score"),
            pl.format(
                "{} 当日 O2 中位数 {}%，高于同行业 {} 台设备的 {}% 分位（{}%），同期{}仅为本设备常态的 {}%",
                pl.col("day").cast(pl.String),
                number(pl.col("o2")),
                pl.col("peers"),
                int(params["peer_quantile"] * 100),
                number(pl.col("o2_high")),
                name(pl.col("factor")),
                (pl.col("value") / pl.col("usual") * 100).round(0).cast(pl.Int64).cast(pl.String),
            ).alias("summary"),
        ),
        "R09",
    )
