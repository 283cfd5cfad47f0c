"""Stored clues (问题线索) and their review: the database mode of the screening engine."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from offsite.db import Base, UtcDateTime
from offsite.screening import states

STATES = states.STATES


class Clue(Base):
    __tablename__ = "clue"
    __table_args__ = (
        CheckConstraint(f"state IN ({', '.join(repr(s) for s in STATES)})", name="state_allowed"),
        Index("ix_clue_device_window", "device_id", "start_at", "end_at"),
        Index("ix_clue_state_score", "state", "score"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule: Mapped[str] = mapped_column(String(4))
    """The highest-scoring rule of the joined hits."""
    rules: Mapped[str] = mapped_column(String(64))
    """Every rule that fired, comma-separated."""
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"), index=True)
    outlet_id: Mapped[int] = mapped_column(ForeignKey("outlet.id", ondelete="CASCADE"))
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id", ondelete="CASCADE"))
    mn: Mapped[str] = mapped_column(String(32))
    factor: Mapped[str] = mapped_column(String(16))
    start_at: Mapped[datetime] = mapped_column(UtcDateTime)
    end_at: Mapped[datetime] = mapped_column(UtcDateTime)
    score: Mapped[float] = mapped_column(Float)
    summary: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The hits, the parameters in force, the data window and the archived packets behind it."""
    state: Mapped[str] = mapped_column(String(10), default="new")
    reason: Mapped[str | None] = mapped_column(Text)
    """Why it was dismissed (or what confirmed it)."""
    reviewed_by: Mapped[str | None] = mapped_column(String(64))
    reviewed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    found_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PeerProfile(Base):
    """The last peer profiles computed (``offsite.screening.profiles``): per industry, what is
    usual among its devices. Replaced whole by each computation."""

    __tablename__ = "peer_profile"
    __table_args__ = (UniqueConstraint("industry", "metric", "factor"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    industry: Mapped[str] = mapped_column(String(32))
    """The unit's industry code; ``*`` for devices with none."""
    metric: Mapped[str] = mapped_column(String(32))
    factor: Mapped[str] = mapped_column(String(16))
    """``*`` for a metric of the whole device."""
    value: Mapped[float | None] = mapped_column(Float)
    peers: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[datetime] = mapped_column(UtcDateTime)
    window_end: Mapped[datetime] = mapped_column(UtcDateTime)
    computed_at: Mapped[datetime] = mapped_column(UtcDateTime)
