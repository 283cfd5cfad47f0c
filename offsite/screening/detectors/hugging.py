"""R08 贴限排放: valid hourly means bunched just under the limit — on a day, more than a set share
of them, or a pile-up at the limit that a smooth distribution would not have. (Over the window,
more of them than the industry's peers: ``peers.detect_near_limit``.)"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
from scipy.special import pdtrc

from offsite.screening.detectors.common import china_day, hours_against_limit
from offsite.screening.hits import finish, name, number
from offsite.screening.prepared import Prepared


def detect(p: Prepared, params: dict[str, Any]) -> pl.DataFrame:
    hourly = hours_against_limit(
        p.pollutants.with_columns(pl.col("limit_corrected").cast(pl.Float64).alias("corrected")),
        ["value", "limit", "limit_nominal", "corrected"],
    )
    band = (pl.col("value") >= params["band_low"] * pl.col("limit")) & (pl.col("value") < pl.col("limit"))
    days = (
        hourly.with_columns(china_day(pl.col("hour")).alias("day"), band.alias("in_band"))
        .group_by("mn", "factor", "day")
        .agg(
            pl.len().alias("hours"),
            pl.col("in_band").mean().alias("share"),
            pl.col("hour").filter(pl.col("in_band")).min().alias("start"),
            (pl.col("hour").filter(pl.col("in_band")).max() + pl.duration(hours=1)).alias("end"),
            pl.col("limit_nominal").first().alias("limit"),
            pl.col("corrected").first(),
        )
        .filter((pl.col("hours") >= params["min_hours"]) & (pl.col("share") > params["share"]))
    )
    return finish(
        days.with_columns(
            (0.5 + 0.5 * ((pl.col("share") - params["share"]) / (1 - params["share"])).clip(0, 1)).alias("score"),
            pl.format(
                "{} 在 {} 有 {}% 的有效小时{}落在限值 {} 的 {}%–100% 之间（贴限排放）",
                name(pl.col("factor")),
                pl.col("day").cast(pl.String),
                _percent(pl.col("share")),
                pl.when(pl.col("corrected") > 0.5).then(pl.lit("均值（按折算浓度）")).otherwise(pl.lit("均值")),
                number(pl.col("limit")),
                int(params["band_low"] * 100),
            ).alias("summary"),
        ),
        "R08",
    )


def detect_jump(p: Prepared, params: dict[str, Any]) -> pl.DataFrame:
    """A density discontinuity at the limit (a McCrary-style test, on counts): hourly means pile
    up in [0.9L, L) far beyond what the neighbouring bins, [0.8L, 0.9L) and [L, 1.1L), imply for
    a smooth distribution. The counts are Poisson; ``jump_p`` is the chance of as many by luck."""
    hourly = hours_against_limit(p.pollutants, ["value", "limit"])
    ratio = pl.col("value") / pl.col("limit")
    below = (ratio >= 0.9) & (ratio < 1.0)
    counts = hourly.group_by("mn", "factor").agg(
        below.sum().alias("observed"),
        ((ratio >= 0.8) & (ratio < 0.9)).sum().alias("under"),
        ((ratio >= 1.0) & (ratio < 1.1)).sum().alias("over"),
        pl.len().alias("hours"),
        pl.col("hour").filter(below).min().alias("start"),
        (pl.col("hour").filter(below).max() + pl.duration(hours=1)).alias("end"),
    )
    counts = counts.with_columns(((pl.col("under") + pl.col("over")) / 2).clip(lower_bound=0.5).alias("expected"))
    observed = counts["observed"].to_numpy()
    # P(X ≥ observed) for X ~ Poisson(expected); scipy.special's, not scipy.stats': a third of the import
    chance = np.where(observed > 0, pdtrc(np.maximum(observed - 1, 0), counts["expected"].to_numpy()), 1.0)
    odd = counts.with_columns(pl.Series("p", chance)).filter(
        (pl.col("observed") >= params["jump_min_hours"])
        & (pl.col("observed") >= params["jump_ratio"] * pl.col("expected"))
        & (pl.col("p") < params["jump_p"])
    )
    return finish(
        odd.with_columns(
            pl.lit(0.6).alias("score"),
            pl.format(
                "{} 本期有效小时均值在限值下方 90%–100% 有 {} 个，而 80%–90% 有 {} 个、100%–110% 有 {} 个"
                "（平滑分布下约 {} 个），在限值处堆积",
                name(pl.col("factor")),
                pl.col("observed"),
                pl.col("under"),
                pl.col("over"),
                number(pl.col("expected")),
            ).alias("summary"),
        ),
        "R08",
    )


def _percent(share: pl.Expr) -> pl.Expr:
    return (share * 100).round(0).cast(pl.Int64).cast(pl.String)
