"""Recomputing a span of days and everything downstream of it, and recording that it was done.

One path for the daily grading and for every change that reaches back: late or backfilled
minutes, a data mark approved after the fact, a limit or permit corrected, an officer's request.
It recomputes the hours and days from the stored minutes (when asked), grades the span against
the 30 days before it, brings the alarms in line (queueing the messages a changed level calls
for, in the same transaction), replaces the span's hourly-exceedance evidence and its waste
incinerators' furnace-temperature breaches (counted as exceedance days only where
``furnace_counts_toward_grading`` says so), and writes one ``Recomputation`` row saying what set it
off and what it changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import polars as pl
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from offsite.alarms import lifecycle
from offsite.alarms.contradictions import check_marks
from offsite.alarms.daily import daily_values, hourly_exceedances, keep_hourly_exceedances
from offsite.alarms.furnace import breach_days, furnace_breaches, keep_furnace_breaches
from offsite.alarms.grading import Bands, grade
from offsite.alarms.models import LIVE, Alarm, Recomputation
from offsite.db import session_factory
from offsite.hj212.times import CST
from offsite.quality.incremental import Aggregated, aggregate_pending, aggregate_window
from offsite.settings import Settings

TRIGGERS = ("daily", "data", "mark", "limit", "permit", "manual")


@dataclass(frozen=True, slots=True)
class Outcome:
    record: Recomputation
    daily_values: int
    alarmed: int
    """Units with an exceedance level on the span's last day."""
    applied: lifecycle.Applied
    hourly: int
    """Hourly exceedances kept as evidence for the span."""
    contradicted: int = 0
    """Stop marks over the span that the data contradict (rule R16)."""
    furnace: int = 0
    """Furnace-temperature breach days found over the span (marked ones included)."""

    def summary(self) -> str:
        r, a = self.record, self.applied
        computed = f"{r.hours} hourly and {r.days} daily values computed from minutes; " if r.hours or r.days else ""
        return (
            f"{r.first_day}..{r.last_day} ({r.trigger}): {computed}"
            f"{self.daily_values} daily values, {self.alarmed} units alarmed on {r.last_day}; "
            f"opened {a.opened}, raised {a.raised}, lowered {a.lowered}, cleared {a.cleared}; "
            f"{a.messages} messages queued; {self.hourly} hourly exceedances kept"
            + (f"; {self.contradicted} stop marks contradicted by the data" if self.contradicted else "")
            + (f"; {self.furnace} furnace-temperature breach days" if self.furnace else "")
        )


def recompute(
    engine: Engine,
    first: date,
    last: date,
    *,
    settings: Settings,
    now: datetime,
    trigger: str,
    detail: str = "",
    from_minutes: bool = False,
    aggregated: Aggregated | None = None,
) -> Outcome:
    """Grade days ``first``–``last`` (and, with ``from_minutes``, first recompute their hours and
    days from the stored minutes); ``aggregated`` reports aggregation already done by the caller."""
    if trigger not in TRIGGERS:
        raise ValueError(f"unknown trigger {trigger!r}; one of {', '.join(TRIGGERS)}")
    if first > last:
        raise ValueError(f"the span starts ({first}) after it ends ({last})")
    done = aggregated or Aggregated()
    if from_minutes:
        done += aggregate_window(engine, first, last)
    bands = Bands(window_days=settings.alarm_window_days)
    takes_effect = settings.mark_takes_effect
    window_first = first - timedelta(days=bands.window_days - 1)
    with session_factory(engine)() as session:
        daily = daily_values(
            engine, session, window_first, last, marks_take_effect=takes_effect, settings=settings, now=now
        )
        furnace = keep_furnace_breaches(
            session, furnace_breaches(engine, session, first, last, settings, now=now), first, last
        )
        judged = daily
        if settings.furnace_counts_toward_grading:
            judged = pl.concat([daily, breach_days(session, window_first, last, settings)], how="diagonal_relaxed")
        live = session.scalars(select(Alarm.unit_id).where(Alarm.kind == "exceedance", Alarm.state.in_(LIVE))).all()
        graded = grade(judged, first, last, bands, also=live)
        applied = lifecycle.apply_grading(session, graded, settings, now)
        found = hourly_exceedances(
            engine, session, first, last, marks_take_effect=takes_effect, settings=settings, now=now
        )
        hourly = keep_hourly_exceedances(session, found, first, last)
        span = (datetime.combine(first, time(), CST), datetime.combine(last + timedelta(days=1), time(), CST))
        contradicted = check_marks(engine, session, *span, settings)
        record = _record(session, first, last, trigger=trigger, detail=detail, now=now, done=done, applied=applied)
        session.commit()
        session.refresh(record)
        session.expunge(record)
    alarmed = graded.filter(pl.col("day") == last, pl.col("level") != "none").height
    return Outcome(record, daily.height, alarmed, applied, hourly, contradicted, furnace)


def reach_back(changed_from: date, *, settings: Settings, now: datetime) -> tuple[date, date] | None:
    """The days to regrade after a change that applies from ``changed_from``: from it (but no
    further back than the alarm window, beyond which no present level depends on it) to yesterday;
    none if it applies from today on."""
    yesterday = now.astimezone(CST).date() - timedelta(days=1)
    first = max(changed_from, yesterday - timedelta(days=settings.alarm_window_days - 1))
    return (first, yesterday) if first <= yesterday else None


def recompute_pending(engine: Engine, *, settings: Settings, now: datetime) -> Outcome | None:
    """Aggregate every noted hour that has ended; when that changed a day before today, regrade from
    it to yesterday (a late minute for a day already graded changes its level and those after)."""
    done = aggregate_pending(engine, now=now)
    yesterday = now.astimezone(CST).date() - timedelta(days=1)
    if done.first_day is None or done.first_day > yesterday:
        return None
    detail = f"{done.hours} hourly values from new, late or changed minutes"
    return recompute(
        engine, done.first_day, yesterday, settings=settings, now=now, trigger="data", detail=detail, aggregated=done
    )


def _record(
    session: Session,
    first: date,
    last: date,
    *,
    trigger: str,
    detail: str,
    now: datetime,
    done: Aggregated,
    applied: lifecycle.Applied,
) -> Recomputation:
    record = Recomputation(
        at=now,
        trigger=trigger,
        detail=detail,
        first_day=first,
        last_day=last,
        hours=done.hours,
        days=done.days,
        level_changes=applied.opened + applied.raised + applied.lowered + applied.cleared,
        messages=applied.messages,
    )
    session.add(record)
    session.flush()
    return record
