"""Which devices were online, from what the gateway records (``device_status_change``): the
networking rate's (联网率) evidence of connection. The rates themselves are transmission KPIs and
live in ``offsite.quality.rates``, which takes this as its ``online`` source (the two packages are
siblings, so the caller joins them)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine, func, select

from offsite.gateway.models import DeviceStatusChange


def online_by_status(engine: Engine) -> Callable[[datetime, datetime], set[int]]:
    """A source of the devices online at some moment from ``start`` to ``end``: online when the
    span began (their last change before it says so) or coming online within it."""

    def online(start: datetime, end: datetime) -> set[int]:
        return devices_online(engine, start, end)

    return online


def devices_online(engine: Engine, start: datetime, end: datetime) -> set[int]:
    """Devices online at some moment from ``start`` to ``end``, per their status changes."""
    last_before = (
        select(DeviceStatusChange.device_id, func.max(DeviceStatusChange.at).label("at"))
        .where(DeviceStatusChange.at < start)
        .group_by(DeviceStatusChange.device_id)
        .subquery()
    )
    with engine.connect() as conn:
        at_start = set(
            conn.execute(
                select(DeviceStatusChange.device_id)
                .join(
                    last_before,
                    (DeviceStatusChange.device_id == last_before.c.device_id)
                    & (DeviceStatusChange.at == last_before.c.at),
                )
                .where(DeviceStatusChange.status == "online")
            ).scalars()
        )
        came_online = set(
            conn.execute(
                select(DeviceStatusChange.device_id).where(
                    DeviceStatusChange.at >= start, DeviceStatusChange.at < end, DeviceStatusChange.status == "online"
                )
            ).scalars()
        )
    return at_start | came_online
