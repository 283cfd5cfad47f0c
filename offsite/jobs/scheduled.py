"""The scheduled jobs (APScheduler 3) of ``offsite worker``, and of ``offsite demo``.

Jobs:
- ``outbox``: deliver due messages;
- ``offline``: offline alarms;
- ``aggregate``: the hours whose minutes were written since the last pass (new, late or
  backfilled) → hourly and daily values; when a day already graded changed, it and the days
  after are regraded and the recomputation recorded;
- ``screen``: at ten past every hour, the screening catalogue over every device's last 24 hours
  (the hour that just closed, with the day before it as context); clues are stored and joined to
  those found before;
- ``profiles``: at 00:30 China time, the peer profiles over the last 30 days, which the hourly
  screening compares devices with;
- ``daily``: at 01:00 China time, grade yesterday, keep its hourly exceedances, and check that
  every device sent its daily data;
- ``heads``: every ``archive_publish_every`` seconds, the archive's chain heads, signed, to the
  witnesses (a file, an e-mail address, a webhook);
- ``marks``: at five past every hour, pending marks past their decision deadline escalated to the
  city bureau (never approved by default).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from offsite.alarms.conditions import check_missing_daily, check_offline
from offsite.alarms.recompute import reach_back, recompute, recompute_pending
from offsite.db import session_factory
from offsite.hj212.times import CST
from offsite.notify.channels import channels_for
from offsite.notify.outbox import deliver_due
from offsite.notify.witness import publish_heads
from offsite.quality.escalation import escalate_overdue
from offsite.quality.marks import overdue_marks
from offsite.screening.database import PROFILE_WINDOW, refresh_profiles, screen_window
from offsite.screening.parameters import load
from offsite.settings import Settings
from offsite.store.signing import SigningKeyError

log = logging.getLogger("offsite.worker")
SCREEN_WINDOW = timedelta(hours=24)


def deliver_job(engine: Engine, settings: Settings) -> str:
    report = deliver_due(session_factory(engine), channels_for(settings), settings, datetime.now(UTC))
    return f"outbox: sent {report.sent}, retrying {report.retried}, failed {report.failed}, held {report.held}"


def offline_job(engine: Engine, settings: Settings) -> str:
    with session_factory(engine)() as session:
        applied = check_offline(session, settings, datetime.now(UTC))
        session.commit()
    return f"offline: opened {applied.opened}, cleared {applied.cleared}"


def aggregate_job(engine: Engine, settings: Settings) -> str:
    outcome = recompute_pending(engine, settings=settings, now=datetime.now(UTC))
    return f"aggregate: {outcome.summary()}" if outcome else "aggregate: no day already graded changed"


def daily_job(engine: Engine, settings: Settings) -> str:
    now = datetime.now(UTC)
    yesterday = now.astimezone(CST).date() - timedelta(days=1)
    outcome = recompute(engine, yesterday, yesterday, settings=settings, now=now, trigger="daily")
    with session_factory(engine)() as session:
        missing = check_missing_daily(session, yesterday, settings, now)
        session.commit()
    return f"daily {outcome.summary()}; missing data: opened {missing.opened}, cleared {missing.cleared}"


def screen_job(engine: Engine, settings: Settings) -> str:
    now = datetime.now(UTC)
    hour = now.replace(minute=0, second=0, microsecond=0)
    stored, _ = screen_window(
        engine, hour - SCREEN_WINDOW, hour, catalogue=load(), now=now, workers=settings.screen_workers
    )
    return f"screen: {stored.clues} clues, {stored.created} new, {stored.updated} seen before"


def profiles_job(engine: Engine, settings: Settings) -> str:
    now = datetime.now(UTC)
    day = now.astimezone(CST).replace(hour=0, minute=0, second=0, microsecond=0)
    found = refresh_profiles(
        engine, day - PROFILE_WINDOW, day, catalogue=load(), now=now, workers=settings.screen_workers
    )
    return f"profiles: {found.height} over {found['industry'].n_unique()} industries"


def marks_job(engine: Engine, settings: Settings, now: datetime | None = None) -> str:
    """Escalate overdue marks; where filing was enough for a mark to count (``mark_takes_effect =
    filed``), a mark newly past its deadline stops counting, so the days it hid are graded again."""
    now = now or datetime.now(UTC)
    with session_factory(engine)() as session:
        lapsed = (
            [(m.id, m.start_at) for m in overdue_marks(session, now, escalated=False)]
            if settings.mark_takes_effect == "filed"
            else []
        )
        done = escalate_overdue(session, settings, now)
        session.commit()
    summary = "marks: " + done.summary()
    for mark_id, start in lapsed:
        span = reach_back(start.astimezone(CST).date(), settings=settings, now=now)
        if span is not None:
            detail = f"mark {mark_id} past its decision deadline undecided: it no longer counts"
            summary += (
                f"; {recompute(engine, *span, settings=settings, now=now, trigger='mark', detail=detail).summary()}"
            )
    return summary


def heads_job(engine: Engine, settings: Settings) -> str:
    try:
        done = publish_heads(engine, settings, channels_for(settings), datetime.now(UTC))
    except SigningKeyError as exc:
        log.error("%s", exc)
        return f"heads: not published: {exc}"
    return "heads: " + done.summary()


JOBS: dict[str, Callable[[Engine, Settings], str]] = {
    "aggregate": aggregate_job,
    "screen": screen_job,
    "profiles": profiles_job,
    "daily": daily_job,
    "offline": offline_job,
    "outbox": deliver_job,
    "heads": heads_job,
    "marks": marks_job,
}


def _logged(name: str, engine: Engine, settings: Settings) -> None:
    # A failing job is logged and retried at its next run; it must not stop the scheduler.
    try:
        log.info("%s", JOBS[name](engine, settings))
    except Exception:
        log.exception("job %s failed", name)


def add_jobs(
    scheduler: BaseScheduler,
    engine: Engine,
    settings: Settings,
    *,
    deliver_every: float,
    offline_every: float,
    aggregate_every: float = 300.0,
    skip: frozenset[str] = frozenset(),
) -> BaseScheduler:
    """Every job of ``JOBS`` but those in ``skip``, on its trigger."""
    triggers = {
        "aggregate": IntervalTrigger(seconds=aggregate_every),
        "outbox": IntervalTrigger(seconds=deliver_every),
        "offline": IntervalTrigger(seconds=offline_every),
        "daily": CronTrigger(hour=1, minute=0, timezone=CST),
        "screen": CronTrigger(minute=10, timezone=CST),
        "profiles": CronTrigger(hour=0, minute=30, timezone=CST),
        "heads": IntervalTrigger(seconds=settings.archive_publish_every),
        "marks": CronTrigger(minute=5, timezone=CST),
    }
    for name, trigger in triggers.items():
        if name in skip:
            continue
        scheduler.add_job(
            _logged,
            trigger,
            args=(name, engine, settings),
            id=name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
    return scheduler
