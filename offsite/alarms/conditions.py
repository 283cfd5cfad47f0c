"""Alarms on conditions rather than counts: a device offline too long, a day without daily data.

Each check finds the units in the condition now; a unit without a live alarm of that kind gets one
(and its people are told), and a live alarm whose unit is out of the condition clears itself.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from offsite.alarms.lifecycle import Applied, record_step
from offsite.alarms.models import LIVE, Alarm
from offsite.alarms.routing import notify_alarm
from offsite.gateway.models import DeviceStatus
from offsite.hj212.times import CST
from offsite.registry.models import Device, Outlet, Unit
from offsite.settings import Settings
from offsite.store.models import DAY, IntervalValue


def check_offline(session: Session, settings: Settings, now: datetime) -> Applied:
    """Units with a networked device unheard for ``alarm_offline_after`` seconds (or never heard)."""
    cutoff = now - timedelta(seconds=settings.alarm_offline_after)
    rows = session.execute(
        select(Outlet.unit_id, DeviceStatus.last_seen, Device.networked_on)
        .select_from(Device)
        .join(Outlet)
        .join(Unit)
        .outerjoin(DeviceStatus, DeviceStatus.device_id == Device.id)
        .where(Device.active, Unit.status == "producing")
    ).all()
    offline = {
        unit
        for unit, last_seen, networked_on in rows
        if (last_seen is not None and last_seen < cutoff)
        or (last_seen is None and networked_on is not None and _day_start(networked_on) < cutoff)
    }
    return _reconcile(session, "offline", offline, day=now.astimezone(CST).date(), settings=settings, now=now)


def check_missing_daily(session: Session, day: date, settings: Settings, now: datetime) -> Applied:
    """Units with a networked device that stored no daily value for ``day``."""
    start = _day_start(day)
    reported = (
        select(IntervalValue.device_id)
        .where(IntervalValue.period == DAY, IntervalValue.ts >= start, IntervalValue.ts < start + timedelta(days=1))
        .distinct()
    )
    missing = set(
        session.scalars(
            select(Outlet.unit_id)
            .select_from(Device)
            .join(Outlet)
            .join(Unit)
            .where(
                Device.active,
                Unit.status == "producing",
                Device.networked_on.is_not(None),
                Device.networked_on <= day,
                Device.id.not_in(reported),
            )
            .distinct()
        )
    )
    return _reconcile(session, "missing", missing, day=day, settings=settings, now=now)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(), CST)


def _reconcile(
    session: Session, kind: str, units: set[int], *, day: date, settings: Settings, now: datetime
) -> Applied:
    applied = Applied()
    live = {a.unit_id: a for a in session.scalars(select(Alarm).where(Alarm.kind == kind, Alarm.state.in_(LIVE)))}
    for unit_id in sorted(units - live.keys()):
        alarm = Alarm(
            unit_id=unit_id, kind=kind, level=kind, days=0, day=day, state="open", opened_at=now, updated_at=now
        )
        session.add(alarm)
        session.flush()
        event = record_step(session, alarm, "opened", level=kind, days=0, day=day, now=now)
        applied.opened += 1
        applied.messages += notify_alarm(session, event, settings, now)
    for unit_id in sorted(live.keys() - units):
        alarm = live[unit_id]
        alarm.state = "cleared" if alarm.state == "verified" else "cleared_unverified"
        record_step(session, alarm, "cleared", level=kind, days=0, day=day, now=now)
        applied.cleared += 1
    return applied
