"""Enqueue messages with their event, deliver them with retries, caps and digests.

A message is written in the same transaction as the event that causes it (``enqueue`` takes the
caller's session), so an event is never without its messages nor a message without its event.
The unique (event, channel, address) key makes enqueueing idempotent: a recomputation that raises
the same alarm again adds nothing. Delivery commits after every send, so a worker that dies can
repeat at most the one message it was sending. A send that fails in any way — the server's
refusal, an address the channel refuses, an exception nobody foresaw — is an attempt of that
message alone, retried with backoff and, after ``notify_max_attempts``, left ``failed`` with its
reason; the pass goes on with the other messages.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from offsite.hj212.times import CST
from offsite.notify.channels import Channel, DeliveryError, Outgoing
from offsite.notify.models import CHANNELS, DeliveryAttempt, OutboxMessage
from offsite.notify.texts import china_time, most_severe
from offsite.settings import Settings

DIGEST_PREFIX = "digest:"
log = logging.getLogger(__name__)


class UnknownChannel(ValueError):
    """A message names a channel the outbox has no sender for."""


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    held: int = 0
    digests: int = 0
    errors: list[str] = field(default_factory=list)


def enqueue(
    session: Session,
    *,
    event_key: str,
    channel: str,
    address: str,
    subject: str,
    body: str,
    now: datetime,
    template: str | None = None,
    params: Mapping[str, str] | None = None,
) -> bool:
    """Add a message to the caller's transaction; False if this event already reached this address."""
    if channel not in CHANNELS:
        raise UnknownChannel(f"unknown channel {channel!r}; known: {', '.join(CHANNELS)}")
    exists = session.scalar(
        select(OutboxMessage.id).where(
            OutboxMessage.event_key == event_key, OutboxMessage.channel == channel, OutboxMessage.address == address
        )
    )
    if exists is not None:
        return False
    session.add(
        OutboxMessage(
            event_key=event_key,
            channel=channel,
            address=address,
            subject=subject,
            body=body,
            template=template,
            params=dict(params) if params else None,
            state="pending",
            attempts=0,
            created_at=now,
            next_attempt_at=now,
        )
    )
    session.flush()
    return True


def deliver_due(
    sessions: sessionmaker[Session], channels: Mapping[str, Channel], settings: Settings, now: datetime
) -> DeliveryReport:
    """Send every message whose time has come; one pass, as the worker's scheduler calls it."""
    report = DeliveryReport()
    with sessions() as session:
        report.digests = _write_digests(session, settings, now)
        session.commit()
        due = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.state == "pending", OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.id)
            .with_for_update(skip_locked=True)
        ).all()
        by_person: dict[tuple[str, str], list[OutboxMessage]] = defaultdict(list)
        for message in due:
            by_person[message.channel, message.address].append(message)
        for (channel, address), messages in by_person.items():
            sender = channels.get(channel)
            allowed = _within_cap(
                session, channel=channel, address=address, messages=messages, settings=settings, now=now
            )
            report.held += len(messages) - len(allowed)
            for batch in _batches(allowed, settings):
                _attempt(session, sender=sender, batch=batch, settings=settings, now=now, report=report)
                session.commit()
        session.commit()
    return report


def _china_day_start(now: datetime) -> datetime:
    local = now.astimezone(CST)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def _within_cap(
    session: Session,
    *,
    channel: str,
    address: str,
    messages: Sequence[OutboxMessage],
    settings: Settings,
    now: datetime,
) -> list[OutboxMessage]:
    """The messages the person may still receive today; the rest are held for tomorrow's digest."""
    sent_today = session.scalar(
        select(func.count()).where(
            OutboxMessage.channel == channel,
            OutboxMessage.address == address,
            OutboxMessage.state == "sent",
            OutboxMessage.sent_at >= _china_day_start(now),
            ~OutboxMessage.event_key.startswith(DIGEST_PREFIX),
        )
    )
    room = max(settings.notify_daily_cap - (sent_today or 0), 0)
    allowed: list[OutboxMessage] = []
    for message in messages:
        if message.event_key.startswith(DIGEST_PREFIX) or room > 0:
            allowed.append(message)
            room -= 0 if message.event_key.startswith(DIGEST_PREFIX) else 1
        else:
            message.state = "held"
    return allowed


def _batches(messages: list[OutboxMessage], settings: Settings) -> list[list[OutboxMessage]]:
    """One send per message, or all of a person's due messages in one where grouping applies.

    SMS is never grouped: providers only send approved templates, one per message.
    """
    if not messages:
        return []
    if settings.notify_group and messages[0].channel != "sms" and len(messages) > 1:
        return [messages]
    return [[message] for message in messages]


def _outgoing(batch: list[OutboxMessage]) -> Outgoing:
    first = batch[0]
    # the row and when it was made: the same at every attempt, yet not reused by a database whose ids
    # start again (a reset demo), which a mail server could take for a duplicate
    key = "-".join(f"{m.id}.{m.created_at.astimezone(UTC):%Y%m%d%H%M%S%f}" for m in batch)
    if len(batch) == 1:
        return Outgoing(first.channel, first.address, first.subject, first.body, first.template, first.params, key)
    # titled by the most severe notice it carries: a red unit's mail must not read as its blue one
    subject = f"{most_severe(m.subject for m in batch)}（共 {len(batch)} 条通知）"
    body = "\n\n".join(f"{i}. {m.subject}\n{m.body}" for i, m in enumerate(batch, 1))
    return Outgoing(first.channel, first.address, subject, body, key=key)


def _attempt(
    session: Session,
    *,
    sender: Channel | None,
    batch: list[OutboxMessage],
    settings: Settings,
    now: datetime,
    report: DeliveryReport,
) -> None:
    """Send one batch and record the attempt on each of its messages; never raises for a bad send."""
    ids = ", ".join(str(m.id) for m in batch)
    try:
        if sender is None:
            raise DeliveryError(f"no sender for channel {batch[0].channel!r}")
        detail, ok = sender.send(_outgoing(batch)), True
    except DeliveryError as exc:
        detail, ok = str(exc), False
    except Exception as exc:  # one broken message must not stop the pass: its attempt keeps the fault
        log.warning("outbox message %s: %s failed unexpectedly", ids, batch[0].channel, exc_info=True)
        detail, ok = f"{batch[0].channel}: {type(exc).__name__}: {exc}", False
    if not ok:
        report.errors.append(f"message {ids}: {detail}")
    for message in batch:
        message.attempts += 1
        session.add(DeliveryAttempt(message_id=message.id, at=now, ok=ok, detail=detail))
        if ok:
            message.state, message.sent_at = "sent", now
            report.sent += 1
        elif message.attempts >= settings.notify_max_attempts:
            message.state = "failed"
            report.failed += 1
        else:
            wait = min(settings.notify_retry_base * 2 ** (message.attempts - 1), settings.notify_retry_max)
            message.next_attempt_at = now + timedelta(seconds=wait)
            report.retried += 1


def _write_digests(session: Session, settings: Settings, now: datetime) -> int:
    """For messages held on an earlier China day: one digest per person and channel, sent today."""
    held = session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.state == "held",
            OutboxMessage.digest_id.is_(None),
            OutboxMessage.created_at < _china_day_start(now),
        )
        .order_by(OutboxMessage.id)
    ).all()
    by_person: dict[tuple[str, str], list[OutboxMessage]] = defaultdict(list)
    for message in held:
        by_person[message.channel, message.address].append(message)
    for (channel, address), messages in by_person.items():
        day = messages[-1].created_at.astimezone(CST).date().isoformat()
        digest = OutboxMessage(
            event_key=f"{DIGEST_PREFIX}{channel}:{address}:{day}:{messages[-1].id}",
            channel=channel,
            address=address,
            subject=f"{most_severe(m.subject for m in messages)}（当日已达发送上限，汇总 {len(messages)} 条通知）",
            body="\n".join(f"- {china_time(m.created_at)} {m.subject}" for m in messages),
            template=settings.sms_digest_template if channel == "sms" else None,
            params={"count": str(len(messages)), "day": day} if channel == "sms" else None,
            state="pending",
            attempts=0,
            created_at=now,
            next_attempt_at=now,
        )
        session.add(digest)
        session.flush()
        for message in messages:
            message.digest_id = digest.id
    return len(by_person)
