"""Data marks: filed by the enterprise, decided by the county, and judged on the unmarked hours."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from offsite.alarms.daily import daily_values
from offsite.alarms.grading import exceedance_days
from offsite.alarms.models import AlarmEvent, HourExceedance
from offsite.cli import app
from offsite.db import session_factory
from offsite.db.schema import upgraded_engine
from offsite.hj212.times import CST
from offsite.quality.marks import MarkError, decide, file_mark
from offsite.registry.models import Limit
from offsite.store.models import HOUR
from offsite.store.values import ValueWriter
from tests.alarms.test_cli_alarms import plant_with_daily_values

DAY = datetime.now(CST).date() - timedelta(days=19)
"""Inside the alarm window of today, whenever the suite runs (approval regrades the window only)."""
MIDNIGHT = datetime.combine(DAY, time(), CST)
DAY_LATE = 86400.0
runner = CliRunner()


def _plant(tmp_path: Path) -> str:
    """Daily SO2 133.3 (above 100): hours 00–03 at 500 (start-up), the other 20 at 60."""
    url = f"sqlite:///{tmp_path / 'x.db'}"
    plant_with_daily_values(url, {DAY: (133.3, "N")})
    hours = [
        {
            "device_id": 1,
            "period": HOUR,
            "factor": "a21026",
            "ts": (MIDNIGHT + timedelta(hours=h)).astimezone(UTC),
            "avg": 50.0,
            "zs_avg": 500.0 if h < 4 else 60.0,
            "flag": "N",
            "raw_id": None,
        }
        for h in range(24)
    ]
    with upgraded_engine(url).begin() as conn:
        ValueWriter().interval(conn, hours)
    return url


def _exceeded(url: str) -> tuple[list[float], list[date]]:
    engine = upgraded_engine(url)
    with session_factory(engine)() as session:
        daily = daily_values(engine, session, DAY, DAY)
    return daily["value"].round(1).to_list(), exceedance_days(daily)["day"].to_list()


def _mark(session: Session, hours: int, *, filed: datetime | None = None) -> int:
    return file_mark(
        session,
        outlet_id=1,
        kind="startup",
        start=MIDNIGHT,
        end=MIDNIGHT + timedelta(hours=hours),
        reason="锅炉启动",
        by="企业",
        now=filed or MIDNIGHT + timedelta(hours=hours),
        late_after=DAY_LATE,
    ).id


def test_an_approved_mark_judges_the_day_on_its_unmarked_hours(tmp_path: Path) -> None:
    url = _plant(tmp_path)
    assert _exceeded(url) == ([133.3], [DAY])
    with session_factory(upgraded_engine(url))() as session:
        mark = _mark(session, 4)
        session.commit()
        assert _exceeded(url) == ([133.3], [DAY])  # pending: no effect yet
        decide(session, mark, approve=True, by="蜀山区", comment="启动记录齐全", now=MIDNIGHT + timedelta(days=1))
        session.commit()
    assert _exceeded(url) == ([60.0], [])  # the 20 unmarked hours at 60


def test_a_day_left_with_too_few_unmarked_hours_is_marked_not_judged(tmp_path: Path) -> None:
    url = _plant(tmp_path)
    with session_factory(upgraded_engine(url))() as session:
        mark = _mark(session, 6)  # 18 unmarked hours: below the 20 a valid day needs
        decide(session, mark, approve=True, by="蜀山区", comment="", now=MIDNIGHT + timedelta(days=1))
        session.commit()
    engine = upgraded_engine(url)
    with session_factory(engine)() as session:
        daily = daily_values(engine, session, DAY, DAY)
    assert daily["marked"].to_list() == [True]
    assert exceedance_days(daily).is_empty()


def test_a_rejected_mark_changes_nothing(tmp_path: Path) -> None:
    url = _plant(tmp_path)
    with session_factory(upgraded_engine(url))() as session:
        mark = _mark(session, 4)
        decide(session, mark, approve=False, by="蜀山区", comment="无启动记录", now=MIDNIGHT + timedelta(days=1))
        with pytest.raises(MarkError, match="already rejected"):
            decide(session, mark, approve=True, by="蜀山区", comment="", now=MIDNIGHT + timedelta(days=1))
        session.commit()
    assert _exceeded(url) == ([133.3], [DAY])


def test_late_filing_is_recorded_and_bad_marks_are_refused(tmp_path: Path) -> None:
    url = _plant(tmp_path)
    with session_factory(upgraded_engine(url))() as session:
        on_time = file_mark(
            session,
            outlet_id=1,
            kind="fault",
            start=MIDNIGHT,
            end=MIDNIGHT + timedelta(hours=2),
            reason="",
            by="企业",
            now=MIDNIGHT + timedelta(hours=3),
            late_after=DAY_LATE,
        )
        late = file_mark(
            session,
            outlet_id=1,
            kind="stopped",
            start=MIDNIGHT,
            end=MIDNIGHT + timedelta(hours=2),
            reason="",
            by="企业",
            now=MIDNIGHT + timedelta(days=3),
            late_after=DAY_LATE,
        )
        assert (on_time.late, late.late) == (False, True)
        with pytest.raises(MarkError, match="no outlet 9"):
            file_mark(
                session,
                outlet_id=9,
                kind="fault",
                start=MIDNIGHT,
                end=MIDNIGHT + timedelta(hours=1),
                reason="",
                by="企业",
                now=MIDNIGHT,
                late_after=DAY_LATE,
            )
        with pytest.raises(MarkError, match="unknown mark kind 'holiday'"):
            file_mark(
                session,
                outlet_id=1,
                kind="holiday",
                start=MIDNIGHT,
                end=MIDNIGHT + timedelta(hours=1),
                reason="",
                by="企业",
                now=MIDNIGHT,
                late_after=DAY_LATE,
            )
        with pytest.raises(MarkError, match="ends"):
            file_mark(
                session,
                outlet_id=1,
                kind="fault",
                start=MIDNIGHT,
                end=MIDNIGHT,
                reason="",
                by="企业",
                now=MIDNIGHT,
                late_after=DAY_LATE,
            )


def test_marks_cli_file_approve_and_regrade(tmp_path: Path) -> None:
    url = _plant(tmp_path)
    grade = ["alarms", "grade", "--from", str(DAY), "--day", str(DAY), "--database-url", url]
    assert "opened 1" in runner.invoke(app, grade).stdout
    filed = runner.invoke(
        app,
        [
            "marks",
            "file",
            "--outlet",
            "1",
            "--kind",
            "startup",
            "--by",
            "企业",
            "--start",
            f"{DAY}T00:00:00+08:00",
            "--end",
            f"{DAY}T04:00:00+08:00",
            "--database-url",
            url,
        ],
    )
    assert filed.stdout.splitlines()[0] == "mark 1: pending (filed late)"  # filed weeks after the window
    approved = runner.invoke(app, ["marks", "approve", "1", "--by", "蜀山区", "--database-url", url])
    decision, recomputed = approved.stdout.strip().splitlines()
    assert decision == "mark 1: approved"
    # Approved after its day was judged: from the window's day to yesterday is judged again, on the
    # day's unmarked hours, and the alarm that day caused clears.
    assert recomputed.startswith(f"recomputed {DAY}..")
    assert "(mark):" in recomputed
    assert "cleared 1" in recomputed
    assert runner.invoke(app, ["marks", "list", "--pending", "--database-url", url]).stdout == (
        "no marks awaiting a decision\n"
    )
    # A window without an offset is refused; deciding again is refused.
    naive = runner.invoke(
        app,
        [
            "marks",
            "file",
            "--outlet",
            "1",
            "--kind",
            "fault",
            "--by",
            "企业",
            "--start",
            f"{DAY}T00:00:00",
            "--end",
            f"{DAY}T01:00:00+08:00",
            "--database-url",
            url,
        ],
    )
    assert naive.exit_code == 2
    again = runner.invoke(app, ["marks", "reject", "1", "--by", "蜀山区", "--database-url", url])
    assert (again.exit_code, "already approved" in again.stderr) == (2, True)
    regraded = runner.invoke(app, grade).stdout  # nothing left to change
    assert "0 units alarmed" in regraded
    assert "cleared 0" in regraded
    with session_factory(upgraded_engine(url))() as session:
        last = session.scalars(select(AlarmEvent).order_by(AlarmEvent.id.desc())).first()
    assert last is not None
    assert (last.action, last.comment) == ("cleared", "recomputed")


def test_hourly_exceedances_are_kept_as_evidence_and_marked_inside_an_approved_mark(tmp_path: Path) -> None:
    url = _plant(tmp_path)
    engine = upgraded_engine(url)
    with session_factory(engine)() as session:
        session.add(
            Limit(
                outlet_id=1,
                factor="a21026",
                standard="test",
                value=200.0,
                basis="corrected",
                period="hour",
                valid_from=date(2026, 1, 1),
                source="test hourly limit",
            )
        )
        session.commit()
    grade = ["alarms", "grade", "--from", str(DAY), "--day", str(DAY), "--database-url", url]
    assert runner.invoke(app, grade).stdout.strip().endswith("4 hourly exceedances kept")  # hours 00–03 at 500
    with session_factory(engine)() as session:
        mark = _mark(session, 2)
        decide(session, mark, approve=True, by="蜀山区", comment="", now=MIDNIGHT + timedelta(days=1))
        session.commit()
    assert runner.invoke(app, grade).stdout.strip().endswith("4 hourly exceedances kept")  # replaced, not doubled
    with session_factory(engine)() as session:
        kept = session.scalars(select(HourExceedance).order_by(HourExceedance.ts)).all()
    assert [(k.ts.astimezone(CST).hour, k.value, k.marked) for k in kept] == [
        (0, 500.0, True),
        (1, 500.0, True),
        (2, 500.0, False),
        (3, 500.0, False),
    ]


def test_a_filed_mark_left_undecided_past_its_deadline_gives_its_days_back_to_judgement(tmp_path: Path) -> None:
    from offsite.alarms.models import Alarm, Recomputation
    from offsite.alarms.recompute import recompute
    from offsite.jobs.scheduled import marks_job
    from offsite.settings import Settings

    url = _plant(tmp_path)
    engine = upgraded_engine(url)
    settings = Settings(database_url=url, mark_takes_effect="filed")
    filed = MIDNIGHT + timedelta(hours=4)
    with session_factory(engine)() as session:
        file_mark(
            session,
            outlet_id=1,
            kind="startup",
            start=MIDNIGHT,
            end=filed,
            reason="锅炉启动",
            by="企业",
            now=filed,
            late_after=DAY_LATE,
            decide_within=72.0,
        )  # start-up hours 00–04; due for a decision 72 h after filing
        session.commit()
    while_pending = filed + timedelta(hours=1)
    recompute(engine, DAY, DAY, settings=settings, now=while_pending, trigger="manual")
    with session_factory(engine)() as session:
        assert session.scalars(select(Alarm)).all() == []  # filing was enough: the start-up hours were left out
    summary = marks_job(engine, settings, now=datetime.now(UTC))  # days later: nobody decided
    assert "past its decision deadline undecided" not in summary  # the summary says what ran, not why
    with session_factory(engine)() as session:
        [regrade] = session.scalars(select(Recomputation).where(Recomputation.trigger == "mark")).all()
        assert "past its decision deadline undecided" in regrade.detail
        [alarm] = session.scalars(select(Alarm)).all()
    assert alarm.level == "blue"  # 133.3 against 100 on the whole day again
