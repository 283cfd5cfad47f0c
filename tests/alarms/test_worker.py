"""``offsite worker``: the jobs run once end to end, and the scheduler holds them on their triggers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.schedulers.blocking import BlockingScheduler
from typer.testing import CliRunner

from offsite.cli import app
from offsite.db.schema import upgraded_engine
from offsite.hj212.times import CST
from offsite.jobs.scheduled import add_jobs
from offsite.settings import Settings
from tests.alarms.test_cli_alarms import plant_with_daily_values

runner = CliRunner()


def test_worker_once_grades_yesterday_checks_devices_and_tries_the_outbox(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    yesterday = datetime.now(CST).date() - timedelta(days=1)
    # Exceedances on the three days up to yesterday: yellow. The device never called: offline.
    plant_with_daily_values(url, {yesterday - timedelta(days=n): (150.0, "N") for n in range(3)})
    result = runner.invoke(app, ["worker", "--once", "--database-url", url])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    # Graded on yesterday alone: the alarm opens straight at yellow (3 days in the window).
    assert lines[0] == "aggregate: no day already graded changed"  # no minutes were stored
    assert lines[1] == (
        f"daily {yesterday}..{yesterday} (daily): 3 daily values, 1 units alarmed on {yesterday}; "
        "opened 1, raised 0, lowered 0, cleared 0; 1 messages queued; 0 hourly exceedances kept; "
        "missing data: opened 0, cleared 0"
    )
    assert lines[2] == "profiles: 0 over 0 industries"  # no minutes to profile
    assert lines[3] == "screen: 0 clues, 0 new, 0 seen before"  # nor to screen
    assert lines[4] == "offline: opened 1, cleared 0"
    # Two SMS for the county officer; no SMS gateway is configured, so both wait for a retry.
    assert lines[5].startswith("marks: ")  # overdue marks escalated before the outbox goes out
    assert lines[6] == "outbox: sent 0, retrying 2, failed 0, held 0"
    assert lines[7].startswith("heads: not published: no archive signing key")  # no gateway ever ran
    listed = runner.invoke(app, ["alarms", "list", "--json", "--database-url", url])
    levels = sorted((row["level"], row["days"]) for row in json.loads(listed.stdout))
    assert levels == [("offline", 0), ("yellow", 3)]


def test_scheduler_runs_the_daily_job_at_one_in_the_morning_china_time(tmp_path: Path) -> None:
    engine = upgraded_engine(f"sqlite:///{tmp_path / 'x.db'}")
    scheduler = add_jobs(BlockingScheduler(timezone=UTC), engine, Settings(), deliver_every=30, offline_every=300)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"aggregate", "daily", "offline", "outbox", "profiles", "screen", "heads", "marks"}
    after = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)  # 11:00 China time
    fire = jobs["daily"].trigger.get_next_fire_time(None, after)
    assert fire.astimezone(CST).replace(tzinfo=None) == datetime(2026, 11, 30, 1, 0)
    profiles = jobs["profiles"].trigger.get_next_fire_time(None, after)
    assert profiles.astimezone(CST).replace(tzinfo=None) == datetime(2026, 11, 30, 0, 30)
    marks = jobs["marks"].trigger.get_next_fire_time(None, after)  # overdue marks escalated hourly
    assert marks.astimezone(CST).replace(tzinfo=None) == datetime(2026, 11, 29, 11, 5)
    assert jobs["outbox"].trigger.interval == timedelta(seconds=30)
