"""R13 数字规律: digits that real measurements do not produce — last digits far from uniform
(values typed in, or generated with a favourite digit), and, on values spanning two orders of
magnitude or more (when switched on: process data often are not Benford-distributed), first
digits far from Benford's law. A weak signal on its own (scored low);
it strengthens a clue it joins. Tested per China day on minute data, per month on hourly data,
with at least ``min_values`` readings."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl
from scipy.special import chdtrc

from offsite.screening.detectors.common import lag, valid
from offsite.screening.hits import HITS, finish, name, number
from offsite.screening.prepared import Prepared

BENFORD = [math.log10(1 + 1 / d) for d in range(1, 10)]


def detect(p: Prepared, params: dict[str, Any]) -> pl.DataFrame:
    # a reading that repeats the one before adds no digit of its own (frozen runs are R01's)
    repeat = pl.col("value") == lag("value")
    frame = valid(p.pollutants).filter((pl.col("value") > 0) & ~repeat.fill_null(value=False))
    if frame.is_empty():
        return pl.DataFrame(schema=HITS)
    local = pl.col("time") + pl.duration(hours=8)  # China time, labelled UTC (UTC+8 all year)
    period = pl.when(pl.col("step") < 3600).then(local.dt.truncate("1d")).otherwise(local.dt.truncate("1mo"))
    # the series' resolution: the most decimals (up to 3) any of its readings needs
    places = pl.min_horizontal(
        *[
            pl.when(((pl.col("value") * 10**k).round(0) - pl.col("value") * 10**k).abs() < 1e-6).then(k)
            for k in range(4)
        ]
    ).fill_null(3)
    # the resolution of the period: the commonest number of decimals (a period where some readings
    # carry fewer, say after an analyser change, is not made to look full of zeros by the rest)
    staged = frame.with_columns(period.alias("period"), places.alias("places")).with_columns(
        pl.col("places").mode().max().over("mn", "factor", "period").alias("decimals")
    )
    digits = staged.with_columns(
        ((pl.col("value") * 10 ** pl.col("decimals").cast(pl.Float64)).round(0).cast(pl.Int64) % 10).alias("last"),
        (pl.col("value") / 10 ** pl.col("value").log10().floor()).floor().cast(pl.Int64).alias("first"),
    )
    tests = (
        digits.group_by("mn", "factor", "period")
        .agg(
            pl.len().alias("n"),
            pl.col("time").min().alias("start"),
            pl.col("time").max().alias("last_time"),
            pl.col("step").first(),
            *[(pl.col("last") == d).sum().alias(f"l{d}") for d in range(10)],
            *[(pl.col("first") == d).sum().alias(f"f{d}") for d in range(1, 10)],
            (pl.col("value").max() / pl.col("value").min()).alias("span"),
        )
        .filter(pl.col("n") >= params["min_values"])
    )
    if tests.is_empty():
        return pl.DataFrame(schema=HITS)
    observed = tests.select([f"l{d}" for d in range(10)]).to_numpy().astype(float)
    n = tests["n"].to_numpy().astype(float)
    statistic = ((observed - n[:, None] / 10) ** 2 / (n[:, None] / 10)).sum(axis=1)
    first = tests.select([f"f{d}" for d in range(1, 10)]).to_numpy().astype(float)
    mad = np.abs(first / n[:, None] - np.array(BENFORD)).mean(axis=1)
    tests = tests.with_columns(
        pl.Series("p", chdtrc(9, statistic)),  # chi-square survival, 9 degrees of freedom
        pl.Series("top_share", observed.max(axis=1) / n),
        pl.Series("chi2", statistic),
        pl.Series("mad", mad),
        (pl.max_horizontal("l0", "l5") / pl.col("n")).alias("round_share"),
    )
    benford = pl.lit(params["benford"]) & (pl.col("span") >= 100) & (pl.col("mad") > params["benford_mad"])
    # significant, and large: one digit far above its tenth (a real month of data is significant
    # for small reasons, such as part of it at a coarser resolution)
    digits_odd = (pl.col("p") < params["p_value"]) & (pl.col("top_share") >= params["digit_share"])
    odd = tests.filter(digits_odd | benford)
    return finish(
        odd.with_columns(
            (pl.col("last_time") + pl.duration(seconds=pl.col("step"))).alias("end"),
            pl.lit(0.35).alias("score"),
            pl.format(
                "{} 在 {} 的 {} 个读数{}{}",
                name(pl.col("factor")),
                pl.col("period").dt.strftime("%Y-%m-%d"),
                pl.col("n"),
                pl.when(digits_odd)
                .then(
                    pl.format(
                        "末位数字分布异常（χ²={}，p={}），末位 0 或 5 占 {}%",
                        pl.col("chi2").round(0).cast(pl.Int64).cast(pl.String),
                        pl.col("p").map_elements(lambda v: f"{v:.1e}", return_dtype=pl.String),
                        (pl.col("round_share") * 100).round(0).cast(pl.Int64).cast(pl.String),
                    )
                )
                .otherwise(pl.lit("")),
                pl.when(benford)
                .then(pl.format("首位数字偏离本福特定律（MAD={}）", number(pl.col("mad"))))
                .otherwise(pl.lit("")),
            ).alias("summary"),
        ),
        "R13",
    )
