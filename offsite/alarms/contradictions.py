"""Marks contradicted by the data (rule R16, screening-rules.md §4): a stop or shut-down mark over
hours in which the outlet plainly discharged — flow above a share of its normal level, or the
production line drawing power. The finding is written on the mark (``DataMark.contradiction``)
for the county bureau deciding it and for screening; the mark itself is not changed.

Only marks of the kinds the kinds table says stop the plant (``stop = true``: stopped, shutdown)
are checked, and only those over a whole outlet or device: a fault, maintenance or calibration
mark — or any mark on one factor — says an analyser was out, not the plant, so a running plant
does not contradict it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from offsite.alarms.daily import hour_values
from offsite.quality.markkinds import mark_kinds
from offsite.quality.marks import DataMark
from offsite.quality.rules import GAS_FLOW, WATER_FLOW
from offsite.registry.models import Device, Outlet, PowerMeter
from offsite.settings import Settings
from offsite.store.models import PowerReading

STOP_KINDS = mark_kinds().stop_keys()
"""The packaged table's stop kinds; ``mark_kinds_file`` replaces them (``stop_kinds``)."""
BASELINE = timedelta(days=30)
"""The normal flow is the median valid hourly flow of the 30 days before the mark."""


def check_marks(engine: Engine, session: Session, start: datetime, end: datetime, settings: Settings) -> int:
    """Check every stop mark (pending or decided) overlapping ``start``–``end``; returns how many
    are contradicted. A finding the data no longer support is withdrawn."""
    marks = session.scalars(
        select(DataMark).where(
            DataMark.kind.in_(stop_kinds(settings)), DataMark.start_at < end, DataMark.end_at > start
        )
    ).all()
    found = 0
    for mark in marks:
        mark.contradiction = contradiction(engine, session, mark, settings)
        found += mark.contradiction is not None
    return found


def contradiction(engine: Engine, session: Session, mark: DataMark, settings: Settings) -> str | None:
    """Why the data contradict ``mark`` (zh-CN, with the numbers), or None."""
    if mark.kind not in stop_kinds(settings) or mark.factor is not None:
        return None
    reasons = [r for r in (_flow(engine, session, mark, settings), _power(session, mark, settings)) if r]
    return "；".join(reasons) or None


def stop_kinds(settings: Settings) -> tuple[str, ...]:
    """The kinds that say the plant did not run, from the kinds table the settings name."""
    return STOP_KINDS if settings.mark_kinds_file is None else mark_kinds(settings.mark_kinds_file).stop_keys()


def _flow(engine: Engine, session: Session, mark: DataMark, settings: Settings) -> str | None:
    devices = list(session.scalars(select(Device.id).where(Device.outlet_id == mark.outlet_id)))
    hours = hour_values(engine, devices, mark.start_at - BASELINE, mark.end_at).filter(
        pl.col("factor").is_in([GAS_FLOW, WATER_FLOW]) & pl.col("avg").is_not_null() & (pl.col("flag") == "N")
    )
    normal = hours.filter(pl.col("ts") < mark.start_at)["avg"].median()
    if not isinstance(normal, float) or normal <= 0:
        return None  # no normal level to compare with
    inside = hours.filter(pl.col("ts") + pl.duration(hours=1) > mark.start_at, pl.col("ts") < mark.end_at)
    active = inside.filter(pl.col("avg") > settings.mark_active_share * normal)
    if active.height < settings.mark_active_hours:
        return None
    peak = active["avg"].max()
    assert isinstance(peak, float)
    return (
        f"标记期内 {active.height} 小时流量高于正常水平的 {settings.mark_active_share:.0%}"
        f"（正常中位数 {normal:.1f}，期内最高 {peak:.1f}）"
    )


def _power(session: Session, mark: DataMark, settings: Settings) -> str | None:
    unit = session.scalar(select(Outlet.unit_id).where(Outlet.id == mark.outlet_id))
    meters = {
        m.id: m.rated_kw
        for m in session.scalars(
            select(PowerMeter).where(PowerMeter.unit_id == unit, PowerMeter.target == "production")
        )
    }
    if not meters:
        return None
    readings = pl.DataFrame(
        session.execute(
            select(PowerReading.meter_id, PowerReading.ts, PowerReading.kw).where(
                PowerReading.meter_id.in_(list(meters)),
                PowerReading.ts >= mark.start_at,
                PowerReading.ts < mark.end_at,
            )
        ).all(),
        schema={"meter_id": pl.Int64, "ts": pl.Datetime("us", "UTC"), "kw": pl.Float64},
        orient="row",
    )
    rated = pl.DataFrame(
        {"meter_id": list(meters), "rated": list(meters.values())}, schema={"meter_id": pl.Int64, "rated": pl.Float64}
    )
    hourly = (
        readings.with_columns(pl.col("ts").dt.truncate("1h").alias("hour"))
        .group_by("meter_id", "hour")
        .agg(pl.col("kw").mean())
        .join(rated, on="meter_id")
        .filter(pl.col("kw") > settings.mark_active_share * pl.col("rated"))
    )
    running = hourly["hour"].n_unique()
    if running < settings.mark_active_hours:
        return None
    return f"标记期内生产设施 {running} 小时用电处于运行状态（高于额定功率的 {settings.mark_active_share:.0%}）"
