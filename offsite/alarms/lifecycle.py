"""Alarms follow the grading: a level change opens, raises, lowers or clears one; officers then
acknowledge, verify and close it. Every step is an ``AlarmEvent`` with who, when and a comment, and
the worst exceedance behind its level (outlet, factor, value, limit), as the alarm itself keeps.

One grading run may step an alarm several times (a recomputation over weeks replays blue, yellow,
orange, red): every step is recorded, but people hear only of the level the run ends on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from offsite.alarms.models import LIVE, SEVERITY, VERDICTS, Alarm, AlarmEvent
from offsite.alarms.routing import notify_alarm
from offsite.settings import Settings

GRADING = "grading"
WORST_FIELDS = ("outlet_id", "factor", "value", "limit")
"""The worst exceedance behind a level, as ``Alarm`` and ``AlarmEvent`` keep it."""


class AlarmStateError(ValueError):
    """A step the alarm's present state does not allow, or an unknown alarm or verdict."""


@dataclass
class Applied:
    opened: int = 0
    raised: int = 0
    lowered: int = 0
    cleared: int = 0
    messages: int = 0


def apply_grading(session: Session, graded: pl.DataFrame, settings: Settings, now: datetime) -> Applied:
    """Bring each unit's alarm in line with ``grading.grade`` rows (unit, day, days, level).

    Days after the one that last set the unit's alarm are replayed change by change. Days up to
    it have been applied before; only the level they now end on counts, and if a recomputation
    (a mark approved late, a limit corrected) changed it, one step marked "recomputed" sets it.
    So applying the same grading again does nothing, and messages are keyed by alarm, step, level
    and day. Of the steps an alarm takes in one run only its last is sent, and only when the run
    opened or raised it and it is still live: past escalations are history, not news.
    """
    applied = Applied()
    last_steps: dict[int, AlarmEvent] = {}
    escalated: set[int] = set()
    for rows in _level_changes(graded).partition_by("unit", maintain_order=True):
        unit = rows["unit"][0]
        latest = latest_alarm(session, unit, "exceedance")
        steps = [(row, "") for row in rows.iter_rows(named=True)]
        if latest is not None:
            past = [step for step in steps if step[0]["day"] <= latest.day]
            steps = [(past[-1][0], "recomputed")] if past else []
            steps += [(row, "") for row in rows.iter_rows(named=True) if row["day"] > latest.day]
        alarm = latest if latest is not None and latest.state in LIVE else None
        for row, comment in steps:
            event = _step(
                session,
                alarm,
                unit_id=unit,
                level=row["level"],
                days=row["days"],
                day=row["day"],
                now=now,
                comment=comment,
                worst=_worst(row),
            )
            if event is None:
                continue
            stepped = session.get(Alarm, event.alarm_id)  # from the session's identity map, no query
            alarm = stepped if stepped is not None and stepped.state in LIVE else None
            setattr(applied, event.action, getattr(applied, event.action) + 1)
            last_steps[event.alarm_id] = event
            if event.action in {"opened", "raised"}:
                escalated.add(event.alarm_id)
    for alarm_id, event in last_steps.items():
        if alarm_id in escalated and event.action in {"opened", "raised", "lowered"}:
            applied.messages += notify_alarm(session, event, settings, now)
    _keep_counts_current(session, graded)
    return applied


def _worst(row: dict[str, Any]) -> dict[str, Any]:
    """The worst exceedance a graded row carries (none on a level of none, or a bare grading)."""
    if row["level"] == "none":
        return dict.fromkeys(WORST_FIELDS)
    outlet = row.get("outlet")
    return {
        "outlet_id": int(outlet) if isinstance(outlet, int) else None,
        "factor": row.get("factor"),
        "value": row.get("value"),
        "limit": row.get("limit"),
    }


def _set_worst(target: Alarm | AlarmEvent, worst: dict[str, Any]) -> None:
    target.outlet_id, target.factor, target.value, target.limit = (worst[f] for f in WORST_FIELDS)


def _keep_counts_current(session: Session, graded: pl.DataFrame) -> None:
    """A live alarm whose level held still shows the exceedance days of the last day graded
    (blue at 1 day, then 2): the count an officer reads is today's, not the one it opened with."""
    if graded.is_empty():
        return
    last = graded.sort("day").group_by("unit").last()
    alarms = {
        a.unit_id: a
        for a in session.scalars(
            select(Alarm).where(
                Alarm.kind == "exceedance", Alarm.state.in_(LIVE), Alarm.unit_id.in_(last["unit"].to_list())
            )
        )
    }
    for row in last.iter_rows(named=True):
        alarm = alarms.get(row["unit"])
        if alarm is not None and alarm.level == row["level"] and row["day"] > alarm.day:
            alarm.days, alarm.day = row["days"], row["day"]
            _set_worst(alarm, _worst(row))


def _level_changes(graded: pl.DataFrame) -> pl.DataFrame:
    """Each unit's first graded day and the days its level changed (the level holds in between)."""
    return (
        graded.sort(["unit", "day"])
        .with_columns(pl.col("level").shift(1).over("unit").alias("previous"))
        .filter(pl.col("previous").is_null() | (pl.col("level") != pl.col("previous")))
    )


def latest_alarm(session: Session, unit_id: int, kind: str) -> Alarm | None:
    return session.scalar(
        select(Alarm).where(Alarm.unit_id == unit_id, Alarm.kind == kind).order_by(Alarm.id.desc()).limit(1)
    )


def _step(
    session: Session,
    alarm: Alarm | None,
    *,
    unit_id: int,
    level: str,
    days: int,
    day: date,
    now: datetime,
    comment: str = "",
    worst: dict[str, Any] | None = None,
) -> AlarmEvent | None:
    worst = worst or dict.fromkeys(WORST_FIELDS)
    if level == "none":
        if alarm is None:
            return None
        alarm.state = "cleared" if alarm.state == "verified" else "cleared_unverified"
        return record_step(session, alarm, "cleared", level=alarm.level, days=days, day=day, now=now, comment=comment)
    if alarm is None:
        alarm = Alarm(
            unit_id=unit_id,
            kind="exceedance",
            level=level,
            days=days,
            day=day,
            state="open",
            opened_at=now,
            updated_at=now,
        )
        _set_worst(alarm, worst)
        session.add(alarm)
        session.flush()
        return record_step(
            session, alarm, "opened", level=level, days=days, day=day, now=now, comment=comment, worst=worst
        )
    if alarm.level == level:
        if day > alarm.day:
            alarm.days, alarm.day = days, day
            _set_worst(alarm, worst)
        return None
    action = "raised" if SEVERITY[level] > SEVERITY[alarm.level] else "lowered"
    alarm.level = level
    _set_worst(alarm, worst)
    return record_step(session, alarm, action, level=level, days=days, day=day, now=now, comment=comment, worst=worst)


def record_step(
    session: Session,
    alarm: Alarm,
    action: str,
    *,
    level: str,
    days: int,
    day: date,
    now: datetime,
    actor: str = GRADING,
    comment: str = "",
    worst: dict[str, Any] | None = None,
) -> AlarmEvent:
    """An alarm step; ``worst``: the exceedance behind its level (an officer's step and a clearing
    carry none)."""
    alarm.days, alarm.day, alarm.updated_at = days, day, now
    event = AlarmEvent(alarm_id=alarm.id, at=now, actor=actor, action=action, level=level, days=days, comment=comment)
    if worst is not None:
        _set_worst(event, worst)
    session.add(event)
    session.flush()
    return event


def _officer_step(
    session: Session,
    alarm_id: int,
    *,
    allowed: tuple[str, ...],
    to: str,
    action: str,
    actor: str,
    comment: str,
    now: datetime,
) -> Alarm:
    alarm = session.get(Alarm, alarm_id)
    if alarm is None:
        raise AlarmStateError(f"no alarm {alarm_id}")
    if alarm.state not in allowed:
        raise AlarmStateError(f"alarm {alarm_id} is {alarm.state}: cannot {action} (only when {' or '.join(allowed)})")
    if not actor.strip():
        raise AlarmStateError(f"{action} needs the name of who does it")
    alarm.state = to
    record_step(
        session,
        alarm,
        action,
        level=alarm.level,
        days=alarm.days,
        day=alarm.day,
        now=now,
        actor=actor,
        comment=comment,
        worst={f: getattr(alarm, f) for f in WORST_FIELDS},
    )
    return alarm


def acknowledge(session: Session, alarm_id: int, *, actor: str, comment: str, now: datetime) -> Alarm:
    return _officer_step(
        session,
        alarm_id,
        allowed=("open",),
        to="acknowledged",
        action="acknowledge",
        actor=actor,
        comment=comment,
        now=now,
    )


def verify(session: Session, alarm_id: int, *, verdict: str, actor: str, comment: str, now: datetime) -> Alarm:
    """Record what the alarm turned out to be (real exceedance, equipment fault, …)."""
    if verdict not in VERDICTS:
        raise AlarmStateError(f"unknown verdict {verdict!r}; one of {', '.join(VERDICTS)}")
    existing = session.get(Alarm, alarm_id)
    # One that cleared before anyone looked is verified after the fact and stays cleared.
    to = "cleared" if existing is not None and existing.state == "cleared_unverified" else "verified"
    alarm = _officer_step(
        session,
        alarm_id,
        allowed=("open", "acknowledged", "cleared_unverified"),
        to=to,
        action="verify",
        actor=actor,
        comment=comment,
        now=now,
    )
    alarm.verdict = verdict
    return alarm


def close(session: Session, alarm_id: int, *, actor: str, comment: str, now: datetime) -> Alarm:
    return _officer_step(
        session,
        alarm_id,
        allowed=("verified", "cleared"),
        to="closed",
        action="close",
        actor=actor,
        comment=comment,
        now=now,
    )
