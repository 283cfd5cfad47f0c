"""Who hears of an alarm and what they read: the officers of the unit's county, city and province
and the enterprise's responsible person, each on the channel the registry lists for them; a message
names the pollutant, the outlet, the judged value, its limit and the 超标倍数.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from offsite.alarms.models import Alarm, AlarmEvent
from offsite.alarms.multiples import exceedance_multiple
from offsite.hj212.codes.factors import factor_info
from offsite.notify.outbox import enqueue
from offsite.notify.texts import LEVEL_NAMES, china_time, level_tag
from offsite.registry.models import Contact, Outlet, Region, Unit
from offsite.registry.regions import ancestor_code
from offsite.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["LEVEL_NAMES", "address_of", "exceedance_text", "notify_alarm", "recipients"]
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
    subject = f"{level_tag(event.level)}{unit.name}"
    signed = f"预警编号 {alarm.id}，{china_time(event.at)}。"
    found: Exceedance | None = None
    if alarm.kind == "offline":
        body = f"{unit.name}（{unit.credit_code}）自动监控设备离线，请核查。{signed}"
    elif alarm.kind == "missing":
        body = f"{unit.name}（{unit.credit_code}）{alarm.day.isoformat()} 日均值缺失，请核查。{signed}"
    else:
        found = exceedance_of(session, event)
        what = f"{found.text}；" if found is not None else ""
        body = (
            f"{unit.name}（{unit.credit_code}）{what}近{settings.alarm_window_days}日超标{event.days}天，"
            f"{level}预警（{alarm.day.isoformat()}）。{signed}"
        )
    params = {"unit": unit.name, "level": level, "days": str(event.days), "alarm": str(alarm.id)}
    if found is not None:
        params |= found.params
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
            params=params if channel == "sms" else None,
            now=now,
        )
    return added


@dataclass(frozen=True, slots=True)
class Exceedance:
    """The worst exceedance behind a level, in words (``text``) and as SMS template parameters."""

    text: str
    params: dict[str, str]


def exceedance_of(session: Session, event: AlarmEvent) -> Exceedance | None:
    """What the event's level rests on, if grading recorded it (older rows carry none)."""
    if event.factor is None or event.value is None or event.limit is None:
        return None
    outlet = session.get(Outlet, event.outlet_id) if event.outlet_id is not None else None
    return exceedance_text(
        factor=event.factor,
        value=event.value,
        limit=event.limit,
        outlet=f"{outlet.name}（{outlet.code}）" if outlet is not None else None,
    )


def exceedance_text(*, factor: str, value: float, limit: float, outlet: str | None) -> Exceedance:
    """ "1号锅炉排气筒（DA001）二氧化硫日均值 150 mg/m³，限值 100 mg/m³，超标 0.5 倍".

    A value below its limit breached a lower bound (pH under 6): it is "低于", with no multiple;
    nor has a dimensionless scale (pH, 林格曼黑度) one above its bound — "times" means nothing there.
    """
    info = factor_info(factor)
    name = info.name_zh if info is not None else factor
    unit = f" {info.unit}" if info is not None and info.unit != "-" else ""
    dimensionless = info is not None and info.unit == "-"
    below = value < limit
    multiple = None if below or dimensionless else exceedance_multiple(value, limit)
    said = f"超标 {_multiple(multiple)} 倍" if multiple is not None else ("低于限值" if below else "超出限值")
    where = outlet or ""
    text = f"{where}{name}日均值 {_number(value)}{unit}，限值 {_number(limit)}{unit}，{said}"
    params = {
        "outlet": outlet,
        "factor": name,
        "value": f"{_number(value)}{unit}",
        "limit": f"{_number(limit)}{unit}",
        "multiple": _multiple(multiple) if multiple is not None else None,
    }
    # an SMS provider refuses empty template parameters: what is unknown is left out
    return Exceedance(text, {key: said for key, said in params.items() if said})


def _number(value: float) -> str:
    """As an officer writes it: at most two decimals (three significant figures below 1)."""
    text = f"{value:.2f}" if abs(value) >= 1 else f"{value:.3g}"
    return text.rstrip("0").rstrip(".") if "." in text and "e" not in text else text


def _multiple(multiple: float) -> str:
    """超标倍数 to two decimals, as officers write it (0.23, 1.5); a trace shows as <0.01."""
    return f"{multiple:.2f}".rstrip("0").rstrip(".") if multiple >= 0.005 else "<0.01"
