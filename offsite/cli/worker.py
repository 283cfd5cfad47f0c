"""``offsite worker``: the scheduled jobs (``offsite.jobs.scheduled``) — aggregation, grading,
peer profiles, screening, offline checks, the outbox."""

from __future__ import annotations

from datetime import UTC
from typing import Annotated

import typer

from offsite.cli.options import DatabaseUrl, database_engine
from offsite.settings import with_database_url


def worker(
    once: Annotated[bool, typer.Option("--once", help="Run every job once, print what each did, and exit.")] = False,
    deliver_every: Annotated[float, typer.Option(help="Seconds between outbox passes.")] = 30.0,
    offline_every: Annotated[float, typer.Option(help="Seconds between offline checks.")] = 300.0,
    aggregate_every: Annotated[float, typer.Option(help="Seconds between aggregation passes.")] = 300.0,
    database_url: DatabaseUrl = None,
) -> None:
    """Run the scheduled jobs: aggregation, daily grading and missing-data check, peer profiles,
    screening, offline alarms, overdue marks escalated, the outbox, the archive's signed heads to the
    witnesses."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    from offsite.jobs.scheduled import (
        JOBS,
        add_jobs,
        aggregate_job,
        daily_job,
        deliver_job,
        heads_job,
        marks_job,
        offline_job,
        profiles_job,
        screen_job,
    )

    settings = with_database_url(database_url)
    engine = database_engine(settings.database_url)
    if not once:
        typer.echo(f"data directory: {settings.data_dir}")
    if once:
        # aggregation first (its days are graded), alarms next, so their messages go out
        jobs = (aggregate_job, daily_job, profiles_job, screen_job, offline_job, marks_job, deliver_job, heads_job)
        for job in jobs:
            typer.echo(job(engine, settings))
        return
    scheduler = BlockingScheduler(timezone=UTC)
    add_jobs(
        scheduler,
        engine,
        settings,
        deliver_every=deliver_every,
        offline_every=offline_every,
        aggregate_every=aggregate_every,
    )
    typer.echo(f"worker: jobs {', '.join(sorted(JOBS))}; Ctrl-C to stop")
    try:
        scheduler.start()
    except KeyboardInterrupt:
        scheduler.shutdown(wait=False)
