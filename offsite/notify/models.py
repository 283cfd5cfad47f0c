"""The outbox: messages committed with the event that caused them, and every delivery attempt."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from offsite.db import Base, UtcDateTime
from offsite.notify import vocabulary

CHANNELS = vocabulary.CHANNELS
STATES = vocabulary.STATES


class OutboxMessage(Base):
    __tablename__ = "outbox_message"
    __table_args__ = (
        # One event reaches one address on one channel once, however often it is enqueued.
        UniqueConstraint("event_key", "channel", "address"),
        CheckConstraint(f"channel IN ({', '.join(repr(c) for c in CHANNELS)})", name="channel_allowed"),
        CheckConstraint(f"state IN ({', '.join(repr(s) for s in STATES)})", name="state_allowed"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_key: Mapped[str] = mapped_column(String(160))
    """What caused the message, e.g. ``alarm:42:red`` — the key that keeps it from going twice."""

    channel: Mapped[str] = mapped_column(String(8))
    address: Mapped[str] = mapped_column(String(512))
    """E-mail address, mobile number or webhook URL."""

    subject: Mapped[str] = mapped_column(String(256))
    body: Mapped[str] = mapped_column(Text)
    template: Mapped[str | None] = mapped_column(String(64))
    """SMS template code (providers send only pre-approved templates)."""

    params: Mapped[dict[str, str] | None] = mapped_column(JSON)
    """Template parameters of an SMS."""

    state: Mapped[str] = mapped_column(String(8), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_message.id"))
    """For a held message: the digest that told the person about it."""


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempt"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("outbox_message.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    ok: Mapped[bool] = mapped_column(Boolean)
    detail: Mapped[str] = mapped_column(Text)
    """The server's answer (SMTP reply, HTTP status and body, SMS provider code) or the error."""
