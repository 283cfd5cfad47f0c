"""Data marks (数据标记): windows an enterprise files per outlet (stopped, start-up, fault …) that
the county bureau approves or rejects. Approved marks exclude the hours they cover from exceedance
judgement (MEE 2022 No. 21: marked data are not a basis for judging exceedance) but nothing is
deleted. A mark filed long after its window began is recorded as late, for screening (rule R16).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from offsite.db import Base, UtcDateTime
from offsite.registry.models import Outlet

MARK_KINDS = ("stopped", "startup", "shutdown", "fault", "maintenance", "calibration")
"""停运, 启动, 停炉/解列, 故障, 维护, 校准: the device and operating-condition marks the 2022 rule's
sector rules name (the full list is not confirmed: screening-rules.md §2.3)."""
MARK_STATES = ("pending", "approved", "rejected")


class MarkError(ValueError):
    """A mark that cannot be filed or decided: names the field or the state at fault."""


class DataMark(Base):
    __tablename__ = "data_mark"
    __table_args__ = (
        CheckConstraint("end_at > start_at", name="window_positive"),
        CheckConstraint(f"state IN ({', '.join(repr(s) for s in MARK_STATES)})", name="state_allowed"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outlet_id: Mapped[int] = mapped_column(ForeignKey("outlet.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("device.id", ondelete="CASCADE"))
    """The analyser or logger the mark covers; none: every device at the outlet."""
    factor: Mapped[str | None] = mapped_column(String(16))
    """The one factor the mark covers; none: every factor (of the device, or of the outlet)."""
    kind: Mapped[str] = mapped_column(String(16))
    start_at: Mapped[datetime] = mapped_column(UtcDateTime)
    end_at: Mapped[datetime] = mapped_column(UtcDateTime)
    reason: Mapped[str] = mapped_column(Text)
    filed_by: Mapped[str] = mapped_column(String(64))
    filed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    late: Mapped[bool] = mapped_column(Boolean)
    """Filed more than ``mark_late_after`` seconds after the window began."""
    state: Mapped[str] = mapped_column(String(8), default="pending")
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decision_comment: Mapped[str | None] = mapped_column(Text)
    decide_by: Mapped[datetime | None] = mapped_column(UtcDateTime)
    """When the bureau's decision is due; a pending mark past it is escalated, never approved by default."""
    escalated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    contradiction: Mapped[str | None] = mapped_column(Text)
    """Why the data contradict the mark (rule R16: a stop mark while the outlet discharged), once
    checked; kept for screening."""


def file_mark(
    session: Session,
    *,
    outlet_id: int,
    kind: str,
    start: datetime,
    end: datetime,
    reason: str,
    by: str,
    now: datetime,
    late_after: float,
) -> DataMark:
    if session.get(Outlet, outlet_id) is None:
        raise MarkError(f"no outlet {outlet_id}")
    if kind not in MARK_KINDS:
        raise MarkError(f"unknown mark kind {kind!r}; one of {', '.join(MARK_KINDS)}")
    if end <= start:
        raise MarkError(f"the window ends ({end.isoformat()}) before it starts ({start.isoformat()})")
    if not by.strip():
        raise MarkError("a mark needs the name of who files it")
    mark = DataMark(
        outlet_id=outlet_id,
        kind=kind,
        start_at=start,
        end_at=end,
        reason=reason,
        filed_by=by,
        filed_at=now,
        late=now - start > timedelta(seconds=late_after),
        state="pending",
    )
    session.add(mark)
    session.flush()
    return mark


def decide(session: Session, mark_id: int, *, approve: bool, by: str, comment: str, now: datetime) -> DataMark:
    """The county bureau's decision; a decided mark is not decided again."""
    mark = session.get(DataMark, mark_id)
    if mark is None:
        raise MarkError(f"no mark {mark_id}")
    if mark.state != "pending":
        raise MarkError(f"mark {mark_id} is already {mark.state}")
    mark.state = "approved" if approve else "rejected"
    mark.decided_by, mark.decided_at, mark.decision_comment = by, now, comment
    return mark


def approved_marks(session: Session, start: datetime, end: datetime) -> list[DataMark]:
    """Approved marks whose window overlaps ``start``–``end``."""
    return list(
        session.scalars(
            select(DataMark).where(DataMark.state == "approved", DataMark.start_at < end, DataMark.end_at > start)
        )
    )
