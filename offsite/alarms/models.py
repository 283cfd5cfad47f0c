"""Alarms and their history: each level change and each officer's step is a row of its own."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from offsite.alarms import verdicts
from offsite.db import Base, UtcDateTime

KINDS = ("exceedance", "offline", "missing")
LEVELS = ("blue", "yellow", "orange", "red", "offline", "missing")
SEVERITY = {"red": 4, "orange": 3, "yellow": 2, "blue": 1, "offline": 0, "missing": 0}
STATES = ("open", "acknowledged", "verified", "closed", "cleared", "cleared_unverified")
"""``cleared``: the count fell to zero after an officer verified the alarm; ``cleared_unverified``:
it fell to zero before anyone did, so it stays listed for follow-up."""
LIVE = ("open", "acknowledged", "verified")
VERDICTS = verdicts.VERDICTS


def _in(column: str, values: tuple[str, ...]) -> CheckConstraint:
    return CheckConstraint(f"{column} IN ({', '.join(repr(v) for v in values)})", name=f"{column}_allowed")


class Alarm(Base):
    __tablename__ = "alarm"
    __table_args__ = (
        _in("kind", KINDS),
        _in("level", LEVELS),
        _in("state", STATES),
        CheckConstraint(
            "verdict IS NULL OR verdict IN ('real_exceedance', 'equipment_fault', 'declared_outage', 'false_alarm')",
            name="verdict_allowed",
        ),
        Index("ix_alarm_unit_kind_state", "unit_id", "kind", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))
    level: Mapped[str] = mapped_column(String(8))
    days: Mapped[int] = mapped_column(Integer, default=0)
    """Exceedance days in the window when the level was last set."""
    day: Mapped[date] = mapped_column(Date)
    """The day whose grading last set the level."""
    state: Mapped[str] = mapped_column(String(18), default="open")
    verdict: Mapped[str | None] = mapped_column(String(16))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # The worst exceedance behind the level (outlet, factor, judged value and its limit), so a
    # message and a list can say 超标 0.5 倍; none for offline and missing alarms.
    outlet_id: Mapped[int | None] = mapped_column(ForeignKey("outlet.id", ondelete="SET NULL"))
    factor: Mapped[str | None] = mapped_column(String(16))
    value: Mapped[float | None] = mapped_column(Float)
    limit: Mapped[float | None] = mapped_column(Float)


class AlarmEvent(Base):
    """One step of an alarm: opened, raised, lowered, cleared (by the grading) or an officer's action."""

    __tablename__ = "alarm_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarm.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    """``grading`` for level changes, otherwise the officer's name."""
    action: Mapped[str] = mapped_column(String(12))
    level: Mapped[str] = mapped_column(String(8))
    days: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    # the worst exceedance behind this step's level, as on ``Alarm``
    outlet_id: Mapped[int | None] = mapped_column(ForeignKey("outlet.id", ondelete="SET NULL"))
    factor: Mapped[str | None] = mapped_column(String(16))
    value: Mapped[float | None] = mapped_column(Float)
    limit: Mapped[float | None] = mapped_column(Float)


class HourExceedance(Base):
    """A valid hourly value above an hourly limit: evidence beside the daily grading."""

    __tablename__ = "hour_exceedance"

    outlet_id: Mapped[int] = mapped_column(ForeignKey("outlet.id", ondelete="CASCADE"), primary_key=True)
    factor: Mapped[str] = mapped_column(String(16), primary_key=True)
    ts: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    value: Mapped[float] = mapped_column(Float)
    limit: Mapped[float] = mapped_column(Float)
    marked: Mapped[bool] = mapped_column(Boolean)
    """Inside an approved data mark: kept, but not a basis for judging exceedance."""


class FurnaceBreach(Base):
    """A waste incinerator's day with more than the allowed 5-minute furnace-temperature means below
    850 °C (MEE Order No. 10: 未采取减少持久性有机污染物排放措施): a violation of its own, not an exceedance."""

    __tablename__ = "furnace_breach"

    device_id: Mapped[int] = mapped_column(ForeignKey("device.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    outlet_id: Mapped[int] = mapped_column(ForeignKey("outlet.id", ondelete="CASCADE"), index=True)
    factor: Mapped[str] = mapped_column(String(16))
    below: Mapped[int] = mapped_column(Integer)
    """5-minute means below the minimum temperature that day."""
    lowest: Mapped[float] = mapped_column(Float)
    marked: Mapped[bool] = mapped_column(Boolean)


class Recomputation(Base):
    """One recomputation of a span of days: what set it off, and what it changed downstream."""

    __tablename__ = "recomputation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    trigger: Mapped[str] = mapped_column(String(12))
    """``daily`` (the scheduled grading), ``data`` (late or backfilled minutes for a day already
    graded), ``mark`` (a mark approved), ``limit``, ``permit`` (a registry correction) or ``manual``."""
    detail: Mapped[str] = mapped_column(Text, default="")
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    hours: Mapped[int] = mapped_column(Integer, default=0)
    """Hourly values (device × factor × hour) computed from minutes."""
    days: Mapped[int] = mapped_column(Integer, default=0)
    level_changes: Mapped[int] = mapped_column(Integer, default=0)
    messages: Mapped[int] = mapped_column(Integer, default=0)
