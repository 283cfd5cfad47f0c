"""Who hears of an alarm: the officers of the unit's county, city and province and the enterprise's
responsible person, each on the channel the registry lists for them.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from offsite.alarms.models import Alarm, AlarmEvent
from offsite.notify.outbox import enqueue
from offsite.registry.models import Contact, Region, Unit
from offsite.registry.regions import ancestor_code
from offsite.settings import Settings

log = logging.getLogger(__name__)

LEVEL_NAMES = {"blue": "蓝色", "yellow": "黄色", "orange": "橙色", "red": "红色", "offline": "离线", "missing": "缺数"}
OFFICER_LEVELS = {"county_officer": "county", "city_officer": "city", "province_officer": "province"}


def recipients(session: Session, unit: Unit) -> list[Contact]:
    """The unit's responsible people and the officers of the regions above it, in that order."""
    regions = _regions(session)
    officer_filters = []
    for role, level in OFFICER_LEVELS.items():
        code = ancestor_code(regions, unit.region_code, level)
        if code is not None:
            officer_filters.append((Contact.role == role) & (Contact.region_code == code))
    query = select(Contact).where(
        or_((Contact.unit_id == unit.id) & (Contact.role == "enterprise_responsible"), *officer_filters)
    )
    return list(session.scalars(query.order_by(Contact.id)))


def _regions(session: Session) -> dict[str, Region]:
    # Loaded once per session: a recomputation routes thousands of alarms over the same regions.
    cached: dict[str, Region] | None = session.info.get("offsite.regions")
    if cached is None:
        cached = session.info["offsite.regions"] = {r.code: r for r in session.scalars(select(Region))}
    return cached


def address_of(contact: Contact) -> tuple[str, str] | None:
    """The preferred channel and its address; another channel the contact has if that one has none."""
    by_channel = {"sms": contact.phone, "email": contact.email}
    preferred = by_channel.get(contact.channel)
    if preferred:
        return contact.channel, preferred
    for channel, address in by_channel.items():
        if address:
            return channel, address
    return None


def notify_alarm(session: Session, event: AlarmEvent, settings: Settings, now: datetime) -> int:
    """Queue the messages an opened or raised alarm calls for; the count of new messages."""
    alarm = session.get(Alarm, event.alarm_id)
    assert alarm is not None
    unit = session.get(Unit, alarm.unit_id)
    assert unit is not None
    level = LEVEL_NAMES.get(event.level, event.level)
    subject = f"【{level}预警】{unit.name}"
    if alarm.kind == "offline":
        body = f"{unit.name}（{unit.credit_code}）自动监控设备离线，请核查。预警编号 {alarm.id}。"
    elif alarm.kind == "missing":
        body = f"{unit.name}（{unit.credit_code}）{alarm.day.isoformat()} 日均值缺失，请核查。预警编号 {alarm.id}。"
    else:
        body = (
            f"{unit.name}（{unit.credit_code}）近{settings.alarm_window_days}日超标{event.days}天，"
            f"{level}预警（{alarm.day.isoformat()}）。预警编号 {alarm.id}。"
        )
    added = 0
    for contact in recipients(session, unit):
        route = address_of(contact)
        if route is None:
            log.warning("alarm %s: contact %s (%s) has neither phone nor e-mail", alarm.id, contact.name, contact.role)
            continue
        channel, address = route
        added += enqueue(
            session,
            event_key=f"alarm:{alarm.id}:{event.action}:{event.level}:{alarm.day.isoformat()}",
            channel=channel,
            address=address,
            subject=subject,
            body=body,
            template=settings.sms_alarm_template if channel == "sms" else None,
            params={"unit": unit.name, "level": level, "days": str(event.days), "alarm": str(alarm.id)}
            if channel == "sms"
            else None,
            now=now,
        )
    return added
