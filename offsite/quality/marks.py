"""Data marks (数据标记): windows an enterprise files (stopped, start-up, fault …) that the county
bureau approves or rejects. A mark covers an outlet, one device at it, or one factor (of that
device, or of the outlet). Approved marks — or, with ``mark_takes_effect = "filed"``, pending ones
too — exclude the hours they cover from exceedance judgement (MEE 2022 No. 21: marked data are not
a basis for judging exceedance) but nothing is deleted. A mark filed long after its window began is
recorded as late, for screening (rule R16); a pending mark has a decision deadline past which it is
escalated (``quality.escalation``), never approved by default. Kinds come from a table
(``quality.markkinds``): a mark filed as 停运 is stored as ``stopped``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from offsite.db import Base, UtcDateTime
from offsite.hj212.codes.factors import factor_info
from offsite.quality.markkinds import MarkKinds, UnknownMarkKind, mark_kinds
from offsite.registry.models import Device, Outlet

MARK_KINDS = mark_kinds().keys()
"""The packaged table's keys (停运, 启动, 停炉/解列, 故障, 维护, 校准 …: ``data/mark_kinds.toml``)."""
MARK_STATES = ("pending", "approved", "rejected")
TAKES_EFFECT = ("approved", "filed")


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
    device: str | None = None,
    factor: str | None = None,
    decide_within: float | None = None,
    kinds: MarkKinds | None = None,
) -> DataMark:
    """File a pending mark. ``device`` (an MN at the outlet) and ``factor`` (an HJ 212-2017 code the
    device, or the outlet, monitors) narrow its scope; ``kind`` may be a key, a Chinese term or a
    code of the kinds table and is stored as its key; ``decide_within`` hours set its deadline."""
    if session.get(Outlet, outlet_id) is None:
        raise MarkError(f"no outlet {outlet_id}")
    try:
        key = (kinds or mark_kinds()).canonical(kind)
    except UnknownMarkKind as exc:
        raise MarkError(str(exc)) from None
    if end <= start:
        raise MarkError(f"the window ends ({end.isoformat()}) before it starts ({start.isoformat()})")
    if not by.strip():
        raise MarkError("a mark needs the name of who files it")
    scoped = _device(session, outlet_id, device) if device is not None else None
    if factor is not None:
        _check_factor(session, outlet_id, scoped, factor)
    mark = DataMark(
        outlet_id=outlet_id,
        device_id=scoped.id if scoped is not None else None,
        factor=factor,
        kind=key,
        start_at=start,
        end_at=end,
        reason=reason,
        filed_by=by,
        filed_at=now,
        late=now - start > timedelta(seconds=late_after),
        state="pending",
        decide_by=now + timedelta(hours=decide_within) if decide_within is not None else None,
    )
    session.add(mark)
    session.flush()
    return mark


def _device(session: Session, outlet_id: int, mn: str) -> Device:
    device = session.scalar(select(Device).where(Device.mn == mn))
    if device is None:
        raise MarkError(f"no device with MN {mn!r}")
    if device.outlet_id != outlet_id:
        raise MarkError(f"device {mn} is at outlet {device.outlet_id}, not at outlet {outlet_id}")
    return device


def _check_factor(session: Session, outlet_id: int, device: Device | None, factor: str) -> None:
    if factor_info(factor) is None:
        raise MarkError(f"factor {factor!r} is not an HJ 212-2017 factor code (e.g. a21026 for SO2)")
    devices = (
        [device] if device is not None else list(session.scalars(select(Device).where(Device.outlet_id == outlet_id)))
    )
    monitored = {code.strip() for d in devices for code in d.factors.split(",") if code.strip()}
    if monitored and factor not in monitored:
        where = f"device {device.mn}" if device is not None else f"outlet {outlet_id}"
        raise MarkError(f"{where} does not monitor {factor} (it monitors {', '.join(sorted(monitored))})")


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


def approved_marks(
    session: Session, start: datetime, end: datetime, *, takes_effect: str = "approved"
) -> list[DataMark]:
    """The marks in effect whose window overlaps ``start``–``end``: approved ones, and with
    ``takes_effect="filed"`` (the ``mark_takes_effect`` setting) pending ones too; rejected never."""
    if takes_effect not in TAKES_EFFECT:
        raise MarkError(f"takes_effect {takes_effect!r} is not one of {', '.join(TAKES_EFFECT)}")
    states = states_in_effect(takes_effect)
    return list(
        session.scalars(
            select(DataMark).where(DataMark.state.in_(states), DataMark.start_at < end, DataMark.end_at > start)
        )
    )


def states_in_effect(takes_effect: str) -> tuple[str, ...]:
    """The states of a mark whose hours leave judgement under ``mark_takes_effect``."""
    return ("approved",) if takes_effect == "approved" else ("approved", "pending")


def overdue_marks(session: Session, now: datetime, *, escalated: bool | None = None) -> list[DataMark]:
    """Pending marks whose decision deadline has passed (``escalated``: only those already
    escalated, or only those not yet; None: both), oldest deadline first."""
    query = select(DataMark).where(DataMark.state == "pending", DataMark.decide_by < now)
    if escalated is not None:
        query = query.where(DataMark.escalated_at.is_not(None) if escalated else DataMark.escalated_at.is_(None))
    return list(session.scalars(query.order_by(DataMark.decide_by, DataMark.id)))
