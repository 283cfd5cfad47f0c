"""Escalation of marks the county bureau left undecided: a pending mark past its ``decide_by`` is
escalated — ``escalated_at`` set and a message queued, in the same transaction, to the city bureau's
officers of the unit's region (the province's where the city has none to tell) — and stays pending.
An escalation nobody could be told of leaves ``escalated_at`` unset, so the next run tries again;
a mark still pending ``mark_escalate_every`` hours after its last escalation is escalated again.
It is never approved by default, and with ``mark_takes_effect = "filed"`` it stops hiding data when
its deadline passes (``quality.marks.in_effect``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from offsite.hj212.codes.factors import factor_info
from offsite.hj212.times import CST
from offsite.notify.outbox import enqueue
from offsite.notify.texts import bounded
from offsite.quality.markkinds import MarkKinds, mark_kinds
from offsite.quality.marks import DataMark, overdue_marks
from offsite.registry.models import Contact, Outlet, Region, Unit
from offsite.registry.regions import ancestor_code
from offsite.settings import Settings

log = logging.getLogger(__name__)
ESCALATED_TO = ("city_officer", "city"), ("province_officer", "province")
"""Who is told, in order: the city's officers, else the province's (a city with nobody to tell
must not leave an overdue mark unheard)."""


@dataclass
class Escalated:
    marks: list[int] = field(default_factory=list)
    """Marks escalated now (somebody was told)."""
    messages: int = 0
    unheard: list[int] = field(default_factory=list)
    """Overdue marks whose region has no city or province officer with a phone or an e-mail address:
    not escalated, tried again at the next run."""

    def summary(self) -> str:
        text = f"escalated {len(self.marks)} overdue marks, {self.messages} messages"
        if self.unheard:
            text += f"; no city or province officer to tell for marks {self.unheard} (tried again next run)"
        return text


def escalate_overdue(session: Session, settings: Settings, now: datetime) -> Escalated:
    """Escalate every pending mark past its deadline that was never escalated, or last escalated
    ``mark_escalate_every`` hours ago or more; the caller commits."""
    done = Escalated()
    regions = {r.code: r for r in session.scalars(select(Region))}
    kinds = mark_kinds(settings.mark_kinds_file)
    for mark in overdue_marks(session, now, again_after=settings.mark_escalate_every):
        outlet = session.get(Outlet, mark.outlet_id)
        assert outlet is not None
        unit = session.get(Unit, outlet.unit_id)
        assert unit is not None
        message = _message(mark, unit, outlet, settings=settings, kinds=kinds, now=now)
        sent = 0
        for role, level in ESCALATED_TO:
            region = ancestor_code(regions, unit.region_code, level)
            if region is None:
                continue
            officers = session.scalars(
                select(Contact).where(Contact.role == role, Contact.region_code == region).order_by(Contact.id)
            )
            sent = sum(_tell(session, officer, message, now) for officer in officers)
            if sent:
                break
        done.messages += sent
        if not sent:
            log.warning("mark %s is overdue and no officer above %s can be told", mark.id, unit.region_code)
            done.unheard.append(mark.id)
            continue
        mark.escalated_at = now
        done.marks.append(mark.id)
    return done


@dataclass(frozen=True, slots=True)
class _Message:
    event_key: str
    subject: str
    body: str
    sms_template: str
    sms_params: dict[str, str]


def _message(
    mark: DataMark, unit: Unit, outlet: Outlet, *, settings: Settings, kinds: MarkKinds, now: datetime
) -> _Message:
    deadline = mark.decide_by.astimezone(CST).strftime("%Y-%m-%d %H:%M +08:00") if mark.decide_by else "-"
    window = " 至 ".join(t.astimezone(CST).strftime("%Y-%m-%d %H:%M") for t in (mark.start_at, mark.end_at))
    info = factor_info(mark.factor) if mark.factor else None
    scope = f"，因子 {info.name_zh}（{mark.factor}）" if info else f"，因子 {mark.factor}" if mark.factor else ""
    effect = (
        "标记未经审核不生效。"
        if settings.mark_takes_effect == "approved"
        else "标记已过审核期限，不再生效，数据照常判定，请尽快审核。"
    )
    again = "再次" if mark.escalated_at is not None else ""
    body = (
        f"{unit.name}（{unit.credit_code}）排放口 {outlet.code} 的数据标记 {mark.id}"
        f"（{kinds.term(mark.kind)}，{window} 北京时间{scope}）已过审核期限 {deadline}，县级尚未审核，"
        f"现{again}提请督办。{effect}"
    )
    return _Message(
        # each escalation is its own message: a repeat must not be taken for the first one replayed
        event_key=f"mark:{mark.id}:escalated:{now.astimezone(CST):%Y%m%d%H%M}",
        subject=f"【标记逾期未审】{unit.name}",
        body=body,
        sms_template=settings.sms_mark_template,
        # a unit's name is free text of any length; the provider refuses a too-long parameter
        sms_params={
            "unit": bounded(unit.name, settings.sms_param_max_chars),
            "mark": str(mark.id),
            "deadline": deadline,
        },
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
