"""Data marks (数据标记): windows an enterprise files (stopped, start-up, fault …) that the county
bureau approves or rejects. A mark covers an outlet, one device at it, or one factor (of that
device, or of the outlet). Approved marks — or, with ``mark_takes_effect = "filed"``, pending ones
too, until their decision deadline — exclude the hours they cover from exceedance judgement
(MEE 2022 No. 21: marked data are not a basis for judging exceedance), within the caps of the
outlet's standard (``quality.markcaps``), but nothing is deleted. A mark filed long after its window began is
recorded as late, for screening (rule R16); a pending mark has a decision deadline past which it is
escalated (``quality.escalation``), never approved by default. Kinds come from a table
(``quality.markkinds``): a mark filed as 停运 is stored as ``stopped``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Boolean, CheckConstraint, ColumnElement, ForeignKey, Integer, String, Text, and_, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from offsite.db import Base, UtcDateTime
from offsite.hj212.codes.factors import factor_info
from offsite.hj212.times import CST
from offsite.quality.markcaps import MarkCap, capped_kinds, exempt_windows, hours, mark_caps, year_bounds
from offsite.quality.markkinds import MarkKinds, UnknownMarkKind, mark_kinds
from offsite.registry.models import Device, Outlet
from offsite.settings import Settings, get_settings

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
    max_window: float | None = None,
    backdate_limit: float | None = None,
) -> DataMark:
    """File a pending mark. ``device`` (an MN at the outlet) and ``factor`` (an HJ 212-2017 code the
    device, or the outlet, monitors) narrow its scope; ``kind`` may be a key, a Chinese term or a
    code of the kinds table and is stored as its key; ``decide_within`` hours set its deadline.
    A window longer than ``max_window`` hours, beginning more than ``backdate_limit`` hours before
    ``now`` or ending after the deadline is refused (the ``mark_max_window`` and
    ``mark_backdate_limit`` settings): a mark hides data, so it must be one the bureau can check."""
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
    decide_by = now + timedelta(hours=decide_within) if decide_within is not None else None
    _check_window(start, end, now=now, decide_by=decide_by, max_window=max_window, backdate_limit=backdate_limit)
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
        decide_by=decide_by,
    )
    session.add(mark)
    session.flush()
    return mark


def _check_window(
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    decide_by: datetime | None,
    max_window: float | None,
    backdate_limit: float | None,
) -> None:
    span = (end - start).total_seconds() / 3600
    if max_window is not None and span > max_window:
        raise MarkError(
            f"the window spans {span:g} h, more than the {max_window:g} h a mark may cover (mark_max_window);"
            " file one mark per episode"
        )
    if backdate_limit is not None and start < now - timedelta(hours=backdate_limit):
        raise MarkError(
            f"the window starts {_shown(start)}, more than {backdate_limit:g} h before filing"
            f" ({_shown(now)}; mark_backdate_limit)"
        )
    if decide_by is not None and end > decide_by:
        raise MarkError(
            f"the window ends {_shown(end)}, after the mark's decision deadline {_shown(decide_by)};"
            " file a mark for what has happened or is about to, not for the far future"
        )


def _shown(moment: datetime) -> str:
    # quality sits below the CLI's clock helper: China time, labelled, as it prints
    return moment.astimezone(CST).strftime("%Y-%m-%d %H:%M +08:00")


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


@dataclass(frozen=True, slots=True)
class MarkWindow:
    """A mark in effect, with the window it exempts (cut short where a cap of its outlet's
    standard ends its exemption): a copy, so cutting it never touches the stored mark."""

    id: int
    outlet_id: int
    device_id: int | None
    factor: str | None
    kind: str
    state: str
    start_at: datetime
    end_at: datetime
    filed_end_at: datetime
    """The window as filed (``end_at`` is where its exemption ends)."""


def approved_marks(
    session: Session,
    start: datetime,
    end: datetime,
    *,
    takes_effect: str | None = None,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> list[MarkWindow]:
    """The marks in effect at ``now`` (the clock when none) whose exempt window overlaps
    ``start``–``end``: approved ones, and with ``takes_effect="filed"`` (the ``mark_takes_effect``
    setting) pending ones until their decision deadline passes; rejected never. With
    ``mark_caps_enforced`` each is cut to the hours the caps of its outlet's standard exempt
    (GB 18485: 4 h a fault, 60 h a year [R]), and one the caps leave nothing of is left out.
    ``settings``: the caps and kinds files and the defaults (the process's settings when none)."""
    settings = settings if settings is not None else get_settings()
    takes_effect = takes_effect if takes_effect is not None else settings.mark_takes_effect
    if takes_effect not in TAKES_EFFECT:
        raise MarkError(f"takes_effect {takes_effect!r} is not one of {', '.join(TAKES_EFFECT)}")
    now = now if now is not None else datetime.now(UTC)
    effective = in_effect(takes_effect, now)
    found = list(
        session.scalars(
            select(DataMark)
            .where(effective, DataMark.start_at < end, DataMark.end_at > start)
            .order_by(DataMark.start_at, DataMark.id)
        )
    )
    windows: dict[int, tuple[datetime, datetime] | None] = {m.id: (m.start_at, m.end_at) for m in found}
    if settings.mark_caps_enforced and found:
        windows.update(_exempt(session, found, effective, settings))
    return [
        MarkWindow(m.id, m.outlet_id, m.device_id, m.factor, m.kind, m.state, w[0], w[1], m.end_at)
        for m in found
        if (w := windows[m.id]) is not None and w[0] < end and w[1] > start
    ]


def _exempt(
    session: Session, found: list[DataMark], effective: ColumnElement[bool], settings: Settings
) -> dict[int, tuple[datetime, datetime] | None]:
    """The exempt windows the caps leave the marks ``found`` (and the year's earlier ones they share
    a budget with)."""
    caps = mark_caps(settings.mark_caps_file, mark_kinds(settings.mark_kinds_file))
    kinds = capped_kinds(caps)
    reached = [m for m in found if m.kind in kinds]
    if not reached:
        return {}
    outlets = {m.outlet_id for m in reached}
    standards = dict(session.execute(select(Outlet.id, Outlet.standard).where(Outlet.id.in_(outlets))).all())
    latest = max(m.start_at for m in reached)
    peers = session.scalars(
        select(DataMark).where(
            effective,
            DataMark.outlet_id.in_(outlets),
            DataMark.kind.in_(kinds),
            DataMark.start_at >= year_bounds(min(m.start_at for m in reached))[0],
            DataMark.start_at <= latest,
        )
    )
    return exempt_windows(list(peers), standards, caps)


def in_effect(takes_effect: str, now: datetime) -> ColumnElement[bool]:
    """Whether a mark's hours leave judgement at ``now`` under ``mark_takes_effect``: approved, or
    (``filed``) pending and not past its decision deadline — an undecided mark stops hiding data
    when its deadline passes, so filing one and waiting gains nothing."""
    approved = DataMark.state == "approved"
    if takes_effect == "approved":
        return approved
    pending = and_(DataMark.state == "pending", or_(DataMark.decide_by.is_(None), DataMark.decide_by > now))
    return or_(approved, pending)


def mark_in_effect(mark: DataMark, takes_effect: str, now: datetime) -> bool:
    """``in_effect`` for one mark already read (screening's marks)."""
    if mark.state == "approved":
        return True
    return takes_effect == "filed" and mark.state == "pending" and (mark.decide_by is None or mark.decide_by > now)


def states_in_effect(takes_effect: str) -> tuple[str, ...]:
    """The states of a mark whose hours may leave judgement under ``mark_takes_effect`` (a pending
    one only until its deadline: ``mark_in_effect`` says for a given time)."""
    return ("approved",) if takes_effect == "approved" else ("approved", "pending")


def overdue_marks(
    session: Session, now: datetime, *, escalated: bool | None = None, again_after: float | None = None
) -> list[DataMark]:
    """Pending marks whose decision deadline has passed (``escalated``: only those already
    escalated, or only those not yet; None: both), oldest deadline first. ``again_after`` hours:
    only those never escalated or last escalated at least that long ago (due to be escalated)."""
    query = select(DataMark).where(DataMark.state == "pending", DataMark.decide_by < now)
    if escalated is not None:
        query = query.where(DataMark.escalated_at.is_not(None) if escalated else DataMark.escalated_at.is_(None))
    if again_after is not None:
        query = query.where(
            or_(DataMark.escalated_at.is_(None), DataMark.escalated_at <= now - timedelta(hours=again_after))
        )
    return list(session.scalars(query.order_by(DataMark.decide_by, DataMark.id)))


def cap_findings(session: Session, marks: Sequence[DataMark], caps: Sequence[MarkCap]) -> dict[int, str]:
    """For each mark beyond a cap of its outlet's standard, what it exceeds (said at filing and shown
    beside the mark; computed from the marks, so never stale: a year's total counts the outlet's
    marks of the cap's kinds, pending or approved, filed up to and including the mark, starting in
    the same calendar year, China time):
    ``exceeds 4 h per episode: 6 h``, ``exceeds 60 h/yr: 72 h`` (several joined by ``; ``)."""
    outlets = {m.outlet_id for m in marks}
    standards = dict(session.execute(select(Outlet.id, Outlet.standard).where(Outlet.id.in_(outlets))).all())
    found: dict[int, str] = {}
    for mark in marks:
        if mark.state == "rejected":
            continue
        texts = []
        for cap in caps:
            if standards.get(mark.outlet_id) not in cap.standards or mark.kind not in cap.kinds:
                continue
            used = hours(mark) if cap.per == "episode" else _year_total(session, mark, cap)
            if used > cap.hours + 1e-9:
                texts.append(f"exceeds {cap.describe()}: {used:g} h")
        if texts:
            found[mark.id] = "; ".join(texts)
    return found


def _year_total(session: Session, mark: DataMark, cap: MarkCap) -> float:
    begins, ends = year_bounds(mark.start_at)
    peers = session.scalars(
        select(DataMark).where(
            DataMark.outlet_id == mark.outlet_id,
            DataMark.kind.in_(cap.kinds),
            DataMark.state != "rejected",
            DataMark.start_at >= begins,
            DataMark.start_at < ends,
            DataMark.id <= mark.id,
        )
    )
    return round(sum(hours(m) for m in peers), 2)
