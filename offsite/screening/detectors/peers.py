"""Comparisons with peers — the devices of the same industry (or, without industries, every device
screened together), read from the profiles (``offsite.screening.profiles``) computed in a pass of
their own:

- R07 (peers): a device-day with more maintenance, calibration or fault hours than the industry's
  P95 of device-days;
- R09 (peers): a device-day whose O2 median sits above the industry's P90 of hourly O2 while the
  pollutant runs well below the device's own usual level (air let in, or a leak).

Both need ``min_peers`` devices in the industry; with fewer, nobody is compared.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from offsite.screening import profiles
from offsite.screening.detectors.common import china_day, hourly, valid
from offsite.screening.hits import HITS, finish, name, number
from offsite.screening.prepared import Prepared


def detect_frequency(p: Prepared, params: dict[str, Any]) -> pl.DataFrame:
    days = profiles.of_device(p, p.inputs.profiles, profiles.OUT_OF_SERVICE, profiles.device_days(p))
    odd = days.filter(
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
        profiles.of_device(p, p.inputs.profiles, profiles.O2_HIGH, days)
        .rename({"typical": "o2_high"})
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
