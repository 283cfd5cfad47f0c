"""Changes that reach back recompute hours, days, exceedances and alarm levels, and are recorded."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import Engine, select
from typer.testing import CliRunner

from offsite.alarms.contradictions import contradiction
from offsite.alarms.models import Alarm, Recomputation
from offsite.alarms.recompute import reach_back, recompute_pending
from offsite.cli import app
from offsite.db import session_factory
from offsite.db.schema import upgraded_engine
from offsite.hj212.times import CST
from offsite.quality.marks import file_mark
from offsite.registry.models import PowerMeter, Unit
from offsite.settings import Settings
from offsite.store.models import HOUR, MINUTE, PowerReading
from offsite.store.partitions import Partitions, month_start
from offsite.store.values import ValueWriter
from tests.alarms.test_cli_alarms import plant_with_daily_values

runner = CliRunner()
DAY = date(2026, 11, 20)
NOW = datetime.combine(DAY + timedelta(days=1), time(0, 30), CST)


def so2_minutes(engine: Engine, day: date, so2: float) -> None:
    """A whole day of minutes: SO2 as given, O2 9 % (corrected = SO2 × 15/12)."""
    start = datetime.combine(day, time(), CST).astimezone(UTC)
    rows = [
        {"device_id": 1, "period": MINUTE, "factor": f, "ts": start + timedelta(minutes=m), "avg": v, "flag": "N"}
        for m in range(1440)
        for f, v in (("a21026", so2), ("a19001", 9.0))
    ]
    with engine.begin() as conn:
        ValueWriter().interval(conn, rows)


def test_minutes_of_a_past_day_grade_it_and_late_minutes_regrade_it(database_url: str, engine: Engine) -> None:
    plant_with_daily_values(database_url, {})  # SO2 daily limit 100 on the corrected value
    settings = Settings(database_url=database_url)
    so2_minutes(engine, DAY, 100.0)  # corrected 125: an exceedance day
    opened = recompute_pending(engine, settings=settings, now=NOW.astimezone(UTC))
    assert opened is not None
    assert (opened.record.trigger, opened.record.first_day, opened.record.last_day) == ("data", DAY, DAY)
    assert (opened.applied.opened, opened.applied.messages) == (1, 1)
    with session_factory(engine)() as session:
        alarm = session.scalars(select(Alarm)).one()
        assert (alarm.level, alarm.days, alarm.state) == ("blue", 1, "open")

    so2_minutes(engine, DAY, 60.0)  # the logger resends the day corrected: 75, under the limit
    later = NOW.astimezone(UTC) + timedelta(hours=5)
    cleared = recompute_pending(engine, settings=settings, now=later)
    assert cleared is not None
    assert cleared.applied.cleared == 1
    assert cleared.record.hours == 2 * 24  # SO2 and O2, every hour of the day
    with session_factory(engine)() as session:
        alarm = session.scalars(select(Alarm)).one()
        assert (alarm.state, alarm.days) == ("cleared_unverified", 0)
        runs = session.scalars(select(Recomputation).order_by(Recomputation.id)).all()
        assert [(r.trigger, r.level_changes) for r in runs] == [("data", 1), ("data", 1)]
    assert recompute_pending(engine, settings=settings, now=later) is None  # nothing left noted


def test_minutes_of_today_wait_for_the_day_to_end(database_url: str, engine: Engine) -> None:
    plant_with_daily_values(database_url, {})
    so2_minutes(engine, DAY + timedelta(days=1), 100.0)
    noon = datetime.combine(DAY + timedelta(days=1), time(12), CST).astimezone(UTC)
    assert recompute_pending(engine, settings=Settings(database_url=database_url), now=noon) is None
    with session_factory(engine)() as session:
        assert session.scalars(select(Alarm)).all() == []


def test_a_corrected_limit_regrades_the_window(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    day = datetime.now(CST).date() - timedelta(days=3)
    plant_with_daily_values(url, {day: (150.0, "N")})  # corrected 150 over the limit of 100
    engine = upgraded_engine(url)
    with session_factory(engine)() as session:
        session.get_one(Unit, 1).credit_code = "91340100000000000D"  # one the importer accepts
        session.commit()
    assert "opened 1" in runner.invoke(app, ["alarms", "grade", "--from", str(day), "--database-url", url]).stdout
    limits = tmp_path / "limits.csv"
    limits.write_text(
        "credit_code,outlet_code,factor,standard,value,basis,period,valid_from,source\n"
        "91340100000000000D,DA001,a21026,GB13223-2011,200,corrected,day,2026-01-01,permit corrected\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["registry", "import", str(limits), "--database-url", url])
    assert result.exit_code == 0, result.output
    summary, recomputed = result.stdout.strip().splitlines()
    assert summary == "limits.csv: 0 created, 1 updated, 0 unchanged"
    # the limit in force since 1 January is corrected to 200: regraded from the start of the alarm
    # window (nothing before it bears on a present level); 150 no longer exceeds, the alarm clears
    window_start = datetime.now(CST).date() - timedelta(days=30)
    assert recomputed.startswith(f"recomputed {window_start}..")
    assert "(limit)" in recomputed
    assert "cleared 1" in recomputed
    with session_factory(engine)() as session:
        run = session.scalars(select(Recomputation)).all()[-1]
        assert (run.trigger, run.level_changes) == ("limit", 1)
        assert "limits.csv" in run.detail


def test_reach_back_stops_at_the_alarm_window() -> None:
    settings = Settings()
    now = datetime(2026, 11, 29, 10, tzinfo=CST)
    assert reach_back(date(2026, 11, 20), settings=settings, now=now) == (date(2026, 11, 20), date(2026, 11, 28))
    assert reach_back(date(2026, 1, 1), settings=settings, now=now) == (date(2026, 10, 30), date(2026, 11, 28))
    assert reach_back(date(2026, 11, 29), settings=settings, now=now) is None


def test_stop_marks_contradicted_by_flow_or_production_power(database_url: str, engine: Engine) -> None:
    plant_with_daily_values(database_url, {})
    start = datetime.combine(DAY, time(), CST)
    hours = []
    for h in range(-24 * 5, 6):  # five days of normal flow 40 m³/s, then the marked night
        flow = 40.0 if h < 0 else (30.0 if h < 2 else 1.0)  # two marked hours still at 30: running
        hours.append(
            {
                "device_id": 1,
                "period": HOUR,
                "factor": "a00000",
                "ts": (start + timedelta(hours=h)).astimezone(UTC),
                "avg": flow,
                "flag": "N",
            }
        )
    with engine.begin() as conn:
        ValueWriter().interval(conn, hours)
    settings = Settings(database_url=database_url)
    with session_factory(engine)() as session:
        stopped = file_mark(
            session,
            outlet_id=1,
            kind="stopped",
            start=start,
            end=start + timedelta(hours=6),
            reason="停产",
            by="企业",
            now=start,
            late_after=86400,
        )
        fault = file_mark(
            session,
            outlet_id=1,
            kind="fault",
            start=start,
            end=start + timedelta(hours=6),
            reason="分析仪故障",
            by="企业",
            now=start,
            late_after=86400,
        )
        quiet = file_mark(
            session,
            outlet_id=1,
            kind="stopped",
            start=start + timedelta(hours=2),
            end=start + timedelta(hours=6),
            reason="停产",
            by="企业",
            now=start,
            late_after=86400,
        )
        found = contradiction(engine, session, stopped, settings)
        # normal median 40; 10 % is 4; hours 0 and 1 at 30 are above it
        assert found == "标记期内 2 小时流量高于正常水平的 10%（正常中位数 40.0，期内最高 30.0）"
        assert contradiction(engine, session, fault, settings) is None  # a fault mark says the analyser was out
        assert contradiction(engine, session, quiet, settings) is None  # flow 1 m³/s: stopped indeed
        session.add(PowerMeter(id=1, unit_id=1, code="E1", target="production", name="生产线", rated_kw=500.0))
        session.flush()
        Partitions().ensure(session.connection(), "power_reading", {month_start(start)})
        session.add_all(
            PowerReading(meter_id=1, ts=start + timedelta(hours=3, minutes=m), kw=300.0) for m in range(0, 60, 15)
        )
        session.flush()
        assert contradiction(engine, session, quiet, settings) == (
            "标记期内生产设施 1 小时用电处于运行状态（高于额定功率的 10%）"
        )


def test_an_alarm_clears_when_its_unit_sends_nothing_for_a_whole_window(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    plant_with_daily_values(url, {DAY: (150.0, "N")})
    assert "opened 1" in runner.invoke(app, ["alarms", "grade", "--day", str(DAY), "--database-url", url]).stdout
    later = DAY + timedelta(days=30)  # the window 30 days back from here no longer holds DAY
    result = runner.invoke(app, ["alarms", "grade", "--day", str(later), "--database-url", url])
    assert "0 daily values" in result.stdout
    assert "cleared 1" in result.stdout


def test_a_range_capped_at_the_limit_cannot_hide_the_exceedance(database_url: str, engine: Engine) -> None:
    """Laiwu case (R04): readings pinned at a lowered range are flagged T; the day has too few
    valid minutes to be valid, but its lower bound proves the exceedance."""
    plant_with_daily_values(database_url, {})  # daily SO2 limit 100, corrected basis (O2 6 %)
    start = datetime.combine(DAY, time(), CST).astimezone(UTC)
    rows = []
    for m in range(1440):
        flag = "N" if m % 60 < 30 else "T"  # half of every hour at the 300 range: 30 valid minutes
        so2 = 80.0 if flag == "N" else 300.0
        ts = start + timedelta(minutes=m)
        rows += [
            {"device_id": 1, "period": MINUTE, "factor": "a21026", "ts": ts, "avg": so2, "flag": flag},
            {"device_id": 1, "period": MINUTE, "factor": "a19001", "ts": ts, "avg": 9.0, "flag": "N"},
        ]
    with engine.begin() as conn:
        ValueWriter().interval(conn, rows)
    outcome = recompute_pending(engine, settings=Settings(database_url=database_url), now=NOW.astimezone(UTC))
    assert outcome is not None
    # bound (30 × 80 + 30 × 300)/60 = 190, corrected × 15/12 = 237.5 > 100: an exceedance day
    assert outcome.applied.opened == 1
