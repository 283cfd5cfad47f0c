"""Alarm statistics per city and for the province, by year or by month, as bureaus report them:
alarms by the highest level each reached, and the units alarmed.

An alarm counts in the period it opened (China time); its level is the highest it was raised to.
"""

from __future__ import annotations

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from offsite.alarms.models import LEVELS, Alarm, AlarmEvent
from offsite.registry.models import Region, Unit
from offsite.registry.regions import ancestor_code

RANK = {level: n for n, level in enumerate(("offline", "missing", "blue", "yellow", "orange", "red"))}


def alarm_statistics(session: Session, year: int, *, by_month: bool = False) -> pl.DataFrame:
    """One row per city (and a province total) with counts per level, ``alarms`` and ``units``."""
    regions = {r.code: r for r in session.scalars(select(Region))}
    rows = session.execute(
        select(Alarm.id, Alarm.unit_id, Alarm.opened_at, AlarmEvent.level, Unit.region_code)
        .join(AlarmEvent, AlarmEvent.alarm_id == Alarm.id)
        .join(Unit, Unit.id == Alarm.unit_id)
        .where(AlarmEvent.action.in_(("opened", "raised")))
    ).all()
    frame = pl.DataFrame(
        [
            (a, u, opened, level, RANK[level], ancestor_code(regions, code, "city"))
            for a, u, opened, level, code in rows
        ],
        schema={
            "alarm": pl.Int64,
            "unit": pl.Int64,
            "opened_at": pl.Datetime("us", "UTC"),
            "level": pl.String,
            "rank": pl.Int64,
            "city": pl.String,
        },
        orient="row",
    ).with_columns(pl.col("opened_at").dt.convert_time_zone("Asia/Shanghai"))
    highest = (
        frame.filter(pl.col("opened_at").dt.year() == year)
        .sort("rank")
        .group_by("alarm")
        .agg(pl.col("unit").last(), pl.col("city").last(), pl.col("level").last(), pl.col("opened_at").first())
        .with_columns(pl.col("opened_at").dt.month().alias("month"))
    )
    keys = ["month"] if by_month else []
    per_city = _counts(highest, ["city", *keys])
    province = _counts(highest.with_columns(pl.lit(_province(regions)).alias("city")), ["city", *keys])
    names = pl.DataFrame(
        {"city": list(regions), "region": [r.name for r in regions.values()]},
        schema={"city": pl.String, "region": pl.String},
    )
    return (
        pl.concat([per_city, province])
        .join(names, on="city", how="left")
        .rename({"city": "region_code"})
        .select("region_code", "region", *keys, *LEVELS, "alarms", "units")
        .sort(["region_code", *keys])
    )


def _counts(alarms: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    counts = alarms.group_by(keys).agg(
        *[(pl.col("level") == level).sum().cast(pl.Int64).alias(level) for level in LEVELS],
        pl.len().cast(pl.Int64).alias("alarms"),
        pl.col("unit").n_unique().cast(pl.Int64).alias("units"),
    )
    return counts.select(keys[0], *keys[1:], *LEVELS, "alarms", "units")


def _province(regions: dict[str, Region]) -> str:
    provinces = [code for code, r in regions.items() if r.level == "province"]
    return provinces[0] if len(provinces) == 1 else "all"
