"""Who hears of an alarm and what they read: the officers of the unit's county, city and province
and the enterprise's responsible person, each on the channel the registry lists for them; a message
names the pollutant, the outlet, the judged value (折算浓度 where the limit is on the reference-O2
basis), its limit and the 超标倍数 — or, for a waste incinerator's furnace-temperature breach, how
many 5-minute means fell below the minimum. SMS template parameters naming the unit or outlet are
cut to ``Settings.sms_param_max_chars``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from offsite.alarms.models import Alarm, AlarmEvent, FurnaceBreach
from offsite.alarms.multiples import exceedance_multiple
from offsite.hj212.codes.factors import factor_info
from offsite.notify.outbox import enqueue
from offsite.notify.texts import LEVEL_NAMES, bounded, china_time, level_tag, pollutant_name
from offsite.registry.models import Contact, Limit, Outlet, Region, Unit
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
        found = exceedance_of(session, event, alarm, settings)
        what = f"{found.text}；" if found is not None else ""
        body = (
            f"{unit.name}（{unit.credit_code}）{what}近{settings.alarm_window_days}日超标{event.days}天，"
            f"{level}预警（{alarm.day.isoformat()}）。{signed}"
        )
    params = {"unit": unit.name, "level": level, "days": str(event.days), "alarm": str(alarm.id)}
    if found is not None:
        params |= found.params
    for name in ("unit", "outlet"):  # free text of any length, unlike the figures
        if name in params:
            params[name] = bounded(params[name], settings.sms_param_max_chars)
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


def exceedance_of(session: Session, event: AlarmEvent, alarm: Alarm, settings: Settings) -> Exceedance | None:
    """What the event's level rests on, if grading recorded it (older rows carry none)."""
    if event.factor is None or event.value is None or event.limit is None:
        return None
    outlet = session.get(Outlet, event.outlet_id) if event.outlet_id is not None else None
    where = f"{outlet.name}（{outlet.code}）" if outlet is not None else None
    if event.factor in settings.furnace_factors:  # a breach counted toward grading, not a limit
        first = alarm.day - timedelta(days=settings.alarm_window_days - 1)
        return furnace_text(
            below=_furnace_count(session, event, first, alarm.day),
            outlet=where,
            minutes=settings.furnace_mean_minutes,
            minimum=settings.furnace_min_temperature,
            allowed=settings.furnace_max_below_per_day,
        )
    return exceedance_text(
        factor=event.factor,
        value=event.value,
        limit=event.limit,
        outlet=where,
        corrected=_basis(session, event, alarm.day) == "corrected",
    )


def _basis(session: Session, event: AlarmEvent, day: date) -> str | None:
    """The basis of the daily limit the event's figures were judged against (the one in force on the
    alarm's day with that bound; the latest in force if none has it)."""
    limits = session.execute(
        select(Limit.basis, Limit.value, Limit.lower)
        .where(Limit.outlet_id == event.outlet_id, Limit.factor == event.factor, Limit.period == "day")
        .where(Limit.valid_from <= day, Limit.valid_to.is_(None) | (Limit.valid_to >= day))
        .order_by(Limit.valid_from.desc())
    ).all()
    for basis, upper, lower in limits:
        if event.limit in (upper, lower):
            return basis
    return limits[0].basis if limits else None


def _furnace_count(session: Session, event: AlarmEvent, first: date, last: date) -> int | None:
    """The low 5-minute means of the breach day behind the event: its furnace's latest unmarked
    breach in the window with that lowest mean (the grading keeps the lowest, not the count)."""
    return session.scalar(
        select(FurnaceBreach.below)
        .where(FurnaceBreach.outlet_id == event.outlet_id, FurnaceBreach.factor == event.factor)
        .where(FurnaceBreach.day >= first, FurnaceBreach.day <= last, FurnaceBreach.marked.is_(False))
        .order_by((FurnaceBreach.lowest == event.value).desc(), FurnaceBreach.day.desc())
        .limit(1)
    )


def furnace_text(*, below: int | None, outlet: str | None, minutes: int, minimum: float, allowed: int) -> Exceedance:
    """ "1号焚烧炉（DA001）炉膛温度5分钟均值低于850℃共7次（每日不得超过5次）": a violation of its own
    (MEE Order No. 10), never a daily mean against a limit."""
    what = f"炉膛温度{minutes}分钟均值低于{_number(minimum)}℃"
    count = f"共{below}次" if below is not None else f"超过{allowed}次"
    rule = f"每日不得超过{allowed}次"
    text = f"{outlet or ''}{what}{count}（{rule}）"
    params = {
        "outlet": outlet,
        "factor": "炉膛温度",
        "value": f"{minutes}分钟均值低于{_number(minimum)}℃{count}",
        "limit": rule,
    }
    return Exceedance(text, {key: said for key, said in params.items() if said})


def exceedance_text(
    *, factor: str, value: float, limit: float, outlet: str | None, corrected: bool = False
) -> Exceedance:
    """ "1号锅炉排气筒（DA001）二氧化硫折算浓度日均值 150 mg/m³，限值 100 mg/m³，超标 0.5 倍"
    (``corrected``: judged at the reference O2, 折算浓度; a measured value says 日均值 alone).

    A value below its limit breached a lower bound (pH under 6): it is "低于", with no multiple;
    nor has a dimensionless scale (pH, 林格曼黑度) one above its bound — "times" means nothing there.
    """
    info = factor_info(factor)
    name = pollutant_name(factor)
    unit = f" {info.unit}" if info is not None and info.unit != "-" else ""
    dimensionless = info is not None and info.unit == "-"
    below = value < limit
    multiple = None if below or dimensionless else exceedance_multiple(value, limit)
    said = f"超标 {_multiple(multiple)} 倍" if multiple is not None else ("低于限值" if below else "超出限值")
    where = outlet or ""
    mean = "折算浓度日均值" if corrected else "日均值"
    text = f"{where}{name}{mean} {_number(value)}{unit}，限值 {_number(limit)}{unit}，{said}"
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
