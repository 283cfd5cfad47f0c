"""Escalation of marks the county bureau left undecided: a pending mark past its ``decide_by`` is
escalated once — ``escalated_at`` set and a message queued, in the same transaction, to the city
bureau's officers of the unit's region — and stays pending. It is never approved by default: its
hours stay judged (unless ``mark_takes_effect`` is ``filed``) until somebody decides it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from offsite.hj212.times import CST
from offsite.notify.outbox import enqueue
from offsite.quality.marks import DataMark, overdue_marks
from offsite.registry.models import Contact, Outlet, Region, Unit
from offsite.registry.regions import ancestor_code
from offsite.settings import Settings

log = logging.getLogger(__name__)
ESCALATED_TO = "city_officer"


@dataclass
class Escalated:
    marks: list[int] = field(default_factory=list)
    messages: int = 0
    unheard: list[int] = field(default_factory=list)
    """Marks escalated whose region has no city officer with a phone or an e-mail address."""

    def summary(self) -> str:
        text = f"escalated {len(self.marks)} overdue marks, {self.messages} messages"
        return text + (f"; no city officer to tell for marks {self.unheard}" if self.unheard else "")


def escalate_overdue(session: Session, settings: Settings, now: datetime) -> Escalated:
    """Escalate every pending mark past its deadline not escalated yet; the caller commits."""
    done = Escalated()
    regions = {r.code: r for r in session.scalars(select(Region))}
    for mark in overdue_marks(session, now, escalated=False):
        outlet = session.get(Outlet, mark.outlet_id)
        assert outlet is not None
        unit = session.get(Unit, outlet.unit_id)
        assert unit is not None
        city = ancestor_code(regions, unit.region_code, "city")
        officers = (
            list(
                session.scalars(
                    select(Contact)
                    .where(Contact.role == ESCALATED_TO, Contact.region_code == city)
                    .order_by(Contact.id)
                )
            )
            if city is not None
            else []
        )
        message = _message(mark, unit, outlet, settings)
        sent = sum(_tell(session, officer, message, now) for officer in officers)
        mark.escalated_at = now
        done.marks.append(mark.id)
        done.messages += sent
        if not sent:
            log.warning("mark %s is overdue and no city officer of %s can be told", mark.id, unit.region_code)
            done.unheard.append(mark.id)
    return done


@dataclass(frozen=True, slots=True)
class _Message:
    event_key: str
    subject: str
    body: str
    sms_template: str
    sms_params: dict[str, str]


def _message(mark: DataMark, unit: Unit, outlet: Outlet, settings: Settings) -> _Message:
    deadline = mark.decide_by.astimezone(CST).strftime("%Y-%m-%d %H:%M +08:00") if mark.decide_by else "-"
    window = " 至 ".join(t.astimezone(CST).strftime("%Y-%m-%d %H:%M") for t in (mark.start_at, mark.end_at))
    scope = f"，因子 {mark.factor}" if mark.factor else ""
    effect = "标记未经审核不生效。" if settings.mark_takes_effect == "approved" else "标记自填报起已生效，请尽快审核。"
    body = (
        f"{unit.name}（{unit.credit_code}）排放口 {outlet.code} 的数据标记 {mark.id}"
        f"（{mark.kind}，{window} 北京时间{scope}）已过审核期限 {deadline}，县级尚未审核，现提请市级督办。{effect}"
    )
    return _Message(
        event_key=f"mark:{mark.id}:escalated",
        subject=f"【标记逾期未审】{unit.name}",
        body=body,
        sms_template=settings.sms_mark_template,
        sms_params={"unit": unit.name, "mark": str(mark.id), "deadline": deadline},
    )


def _tell(session: Session, officer: Contact, message: _Message, now: datetime) -> int:
    """Queue ``message`` to ``officer`` on their channel (the other one if it has no address)."""
    by_channel = {"sms": officer.phone, "email": officer.email}
    channel = (
        officer.channel if by_channel.get(officer.channel) else next((c for c, a in by_channel.items() if a), None)
    )
    if channel is None:
        return 0
    address = by_channel[channel]
    assert address is not None
    sms = channel == "sms"
    return int(
        enqueue(
            session,
            event_key=message.event_key,
            channel=channel,
            address=address,
            subject=message.subject,
            body=message.body,
            template=message.sms_template if sms else None,
            params=message.sms_params if sms else None,
            now=now,
        )
    )
