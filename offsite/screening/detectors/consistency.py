"""R10 工况逻辑: the pollutant leaves its usual relation to the load. Per device and factor, the
hourly means are regressed on the hourly flow (the load the device can see); hours whose residual
is below −``z`` robust standard deviations for ``hours`` hours in a row fire. Only downward: a
concentration that holds while the load falls is ordinary (the mass falls with the flow), one far
below what the load implies is what under-reporting looks like. One regressor, fitted
in closed form per series, so it stays vectorised across devices; flue-temperature logic after
wet FGD and a multi-covariate fit are not done yet."""

from __future__ import annotations

from typing import Any

import polars as pl

from offsite.screening.detectors.common import hourly as common_hourly
from offsite.screening.detectors.common import valid
from offsite.screening.hits import HITS, clock, finish, name, number, runs
from offsite.screening.prepared import Prepared

KEYS = ("mn", "factor")


def detect(p: Prepared, params: dict[str, Any]) -> pl.DataFrame:
    hourly = (
        common_hourly(
            valid(p.pollutants).filter(pl.col("flow").is_not_null() & pl.col("operating") & ~pl.col("marked")),
            ["value", "flow"],
        )
        .rename({"value": "y", "flow": "x"})
        .sort("mn", "factor", "hour")
    )
    if hourly.is_empty():
        return pl.DataFrame(schema=HITS)
    x, y = pl.col("x"), pl.col("y")
    slope = ((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum()
    fitted = hourly.with_columns(
        slope.over(KEYS).alias("b"),
        x.mean().over(KEYS).alias("mx"),
        y.mean().over(KEYS).alias("my"),
        pl.len().over(KEYS).alias("n"),
    ).with_columns((y - (pl.col("my") + pl.col("b") * (x - pl.col("mx")))).alias("r"))
    spread = 1.4826 * (pl.col("r") - pl.col("r").median()).abs().median()
    scored = fitted.with_columns(spread.over(KEYS).alias("sigma")).with_columns(
        (pl.col("r") / pl.col("sigma")).alias("z"), pl.lit(3600).alias("step")
    )
    found = runs(
        scored.filter(pl.col("n") >= params["min_hours"]).rename({"hour": "time"}),
        (pl.col("z") < -params["z"]) & (pl.col("sigma") > 0),
        aggs=[
            pl.col("y").mean().alias("observed"),
            (pl.col("my") + pl.col("b") * (pl.col("x") - pl.col("mx"))).mean().alias("expected"),
            pl.col("z").min().abs().alias("z"),
        ],
    ).filter(pl.col("n") >= params["hours"])
    return finish(
        found.with_columns(
            (0.55 + 0.05 * pl.col("n")).clip(0.55, 0.75).alias("score"),
            pl.format(
                "{} 在 {}–{} 为 {}，按同期流量应约为 {}（低 {} 个稳健标准差），与工况不符",
                name(pl.col("factor")),
                clock(pl.col("start")),
                clock(pl.col("end")),
                number(pl.col("observed")),
                number(pl.col("expected")),
                number(pl.col("z")),
            ).alias("summary"),
        ),
        "R10",
    )
