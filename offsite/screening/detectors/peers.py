"""Comparisons with peers — the devices of the same industry (or, without industries, every device
screened together). These rules read no readings: they judge each device's ``Observations``
against the industry's profiles (``offsite.screening.profiles``), so that a province screened in
batches compares each device with all of its peers.

- R07 (peers): a device-day with more maintenance, calibration or fault hours than the industry's
  P95 of device-days;
- R08 (peers): a series with more of its hours just under the limit, over the window, than the
  industry's P95 of series;
- R09 (peers): a device-day whose O2 median sits above the industry's P90 of hourly O2 while the
  pollutant runs well below the device's own usual level (air let in, or a leak).

Each needs ``min_peers`` devices in the industry; with fewer, nobody is compared.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl

from offsite.screening import profiles
from offsite.screening.hits import finish, name, number
from offsite.screening.profiles import Observations

PeerDetector = Callable[[Observations, pl.DataFrame, pl.DataFrame, dict[str, Any]], pl.DataFrame]
"""(observations, industries, profiles, parameters) → hits."""


def detect_frequency(
    observed: Observations, industries: pl.DataFrame, peer_profiles: pl.DataFrame, params: dict[str, Any]
) -> pl.DataFrame:
    days = profiles.of_device(industries, peer_profiles, profiles.OUT_OF_SERVICE, observed.days)
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


def detect_near_limit(
    observed: Observations, industries: pl.DataFrame, peer_profiles: pl.DataFrame, params: dict[str, Any]
) -> pl.DataFrame:
    shares = observed.shares.filter(pl.col("hours") >= params["peer_min_hours"])
    odd = profiles.of_device(industries, peer_profiles, profiles.NEAR_LIMIT, shares).filter(
        (pl.col("peers") >= params["min_peers"])
        & (pl.col("share") > pl.col("typical"))
        & (pl.col("share") >= params["peer_share"])
    )
    return finish(
        odd.with_columns(
            (0.45 + 0.5 * pl.col("share")).clip(0.45, 0.8).alias("score"),
            pl.format(
                "{} 本期 {} 个有效小时中 {}% 落在限值的 {}%–100% 之间，同行业 {} 台设备的 {}% 分位仅为 {}%",
                name(pl.col("factor")),
                pl.col("hours"),
                _percent(pl.col("share")),
                int(params["band_low"] * 100),
                pl.col("peers"),
                int(params["peer_quantile"] * 100),
                _percent(pl.col("typical")),
            ).alias("summary"),
        ),
        "R08",
    )


def detect_o2(
    observed: Observations, industries: pl.DataFrame, peer_profiles: pl.DataFrame, params: dict[str, Any]
) -> pl.DataFrame:
    odd = (
        profiles.of_device(industries, peer_profiles, profiles.O2_HIGH, observed.o2_days)
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
                _percent(pl.col("value") / pl.col("usual")),
            ).alias("summary"),
        ),
        "R09",
    )


def _percent(share: pl.Expr) -> pl.Expr:
    return (share * 100).round(0).cast(pl.Int64).cast(pl.String)


DETECTORS: dict[str, PeerDetector] = {"R07": detect_frequency, "R08": detect_near_limit, "R09": detect_o2}
