"""Alarms follow the grading, officers step them through their lifecycle, and the right people hear."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from offsite.alarms.grading import grade
from offsite.alarms.lifecycle import AlarmStateError, acknowledge, apply_grading, close, verify
from offsite.alarms.models import Alarm, AlarmEvent
from offsite.db import make_engine, session_factory
from offsite.notify.models import OutboxMessage
from offsite.registry.models import Contact, Outlet, Unit
from offsite.registry.regions import load_anhui
from offsite.settings import Settings

NOW = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
D0 = date(2026, 11, 1)


@pytest.fixture
def sessions(database_url: str) -> sessionmaker[Session]:
    factory = session_factory(make_engine(database_url))
    with factory() as session:
        load_anhui(session)
        session.add(
            Unit(
                id=1,
                credit_code="91340100MA2N000001",
                name="合肥某化工有限公司",
                industry_code="C2614",
                region_code="340104",
            )
        )
        session.add(
            Unit(
                id=2,
                credit_code="91340100MA2N000002",
                name="芜湖某水泥有限公司",
                industry_code="C3011",
                region_code="340202",
            )
        )
        session.flush()  # units before the contacts that refer to them
        session.add_all(
            [
                Contact(
                    name="蜀山区执法员", role="county_officer", phone="13900000104", channel="sms", region_code="340104"
                ),
                Contact(
                    name="合肥市科长",
                    role="city_officer",
                    email="city@hf.example",
                    channel="email",
                    region_code="340100",
                ),
                Contact(
                    name="省厅处长", role="province_officer", phone="13900000000", channel="sms", region_code="340000"
                ),
                Contact(
                    name="企业环保负责人",
                    role="enterprise_responsible",
                    email="ehs@plant.example",
                    channel="sms",
                    unit_id=1,
                ),
                # Not routed for unit 1: another county's officer and another unit's responsible person.
                Contact(
                    name="瑶海区执法员", role="county_officer", phone="13900000102", channel="sms", region_code="340102"
                ),
                Contact(
                    name="芜湖企业负责人", role="enterprise_responsible", phone="13900000202", channel="sms", unit_id=2
                ),
            ]
        )
        session.commit()
    return factory


def _daily(exceeding_days: list[int], unit: int = 1) -> pl.DataFrame:
    rows = [
        (unit, "DA001", "a21026", D0 + timedelta(days=d), 150.0 if d in exceeding_days else 50.0, 100.0, True, False)
        for d in range(40)
    ]
    return pl.DataFrame(
        rows, schema=["unit", "outlet", "factor", "day", "value", "limit", "valid", "marked"], orient="row"
    )


def _apply(sessions: sessionmaker[Session], frame: pl.DataFrame, last: int = 39) -> dict[str, int]:
    graded = grade(frame, D0, D0 + timedelta(days=last))
    with sessions() as session:
        applied = apply_grading(session, graded, Settings(), NOW)
        session.commit()
    return vars(applied)


def _events(sessions: sessionmaker[Session]) -> list[tuple[str, str, int]]:
    with sessions() as session:
        return [(e.action, e.level, e.days) for e in session.scalars(select(AlarmEvent).order_by(AlarmEvent.id))]


def test_an_alarm_opens_rises_and_clears_unverified_with_the_grading(sessions: sessionmaker[Session]) -> None:
    # Exceedances on days 0, 1, 2: blue on day 0, yellow on day 2; the window ending on day 30 holds
    # days 1–30 (two exceedances: blue again), and by day 32 it has passed them all. Every step is
    # recorded; the run ends with the alarm cleared, so nobody is told of its past levels.
    applied = _apply(sessions, _daily([0, 1, 2]))
    assert applied == {"opened": 1, "raised": 1, "lowered": 1, "cleared": 1, "messages": 0}
    assert _events(sessions) == [
        ("opened", "blue", 1),
        ("raised", "yellow", 3),
        ("lowered", "blue", 2),
        ("cleared", "blue", 0),
    ]
    with sessions() as session:
        [alarm] = session.scalars(select(Alarm))
        assert (alarm.state, alarm.level, alarm.day) == ("cleared_unverified", "blue", date(2026, 12, 3))


def test_a_live_alarm_shows_the_exceedance_days_of_the_last_day_graded(sessions: sessionmaker[Session]) -> None:
    # Opened blue on day 0 with one day; day 1 adds a second: still blue, no step, but it reads 2.
    applied = _apply(sessions, _daily([0, 1]), last=5)
    assert applied["opened"] == 1
    assert applied["raised"] == 0
    assert _events(sessions) == [("opened", "blue", 1)]
    with sessions() as session:
        [alarm] = session.scalars(select(Alarm))
        assert (alarm.level, alarm.days, alarm.day) == ("blue", 2, D0 + timedelta(days=5))
    # the next day's grading carries on from there, without repeating a step
    assert _apply(sessions, _daily([0, 1, 6]), last=6)["raised"] == 1
    assert _events(sessions)[-1] == ("raised", "yellow", 3)


def test_applying_the_same_grading_again_changes_nothing_and_sends_nothing(sessions: sessionmaker[Session]) -> None:
    _apply(sessions, _daily([0, 1, 2]), last=10)
    again = _apply(sessions, _daily([0, 1, 2]), last=10)
    assert again == {"opened": 0, "raised": 0, "lowered": 0, "cleared": 0, "messages": 0}
    with sessions() as session:
        assert len(session.scalars(select(OutboxMessage)).all()) == 4  # yellow, to four people


def test_messages_reach_county_city_province_and_the_enterprise_on_their_channels(
    sessions: sessionmaker[Session],
) -> None:
    _apply(sessions, _daily([0]), last=0)
    with sessions() as session:
        sent = {(m.channel, m.address) for m in session.scalars(select(OutboxMessage))}
        [sms] = session.scalars(select(OutboxMessage).where(OutboxMessage.address == "13900000104"))
    assert sent == {
        ("sms", "13900000104"),  # county of 蜀山区
        ("email", "city@hf.example"),  # 合肥市
        ("sms", "13900000000"),  # the province
        ("email", "ehs@plant.example"),  # prefers SMS but has only e-mail
    }
    assert sms.template == "SMS_ALARM"
    assert sms.params == {
        "unit": "合肥某化工有限公司",
        "level": "蓝色",
        "days": "1",
        "alarm": "1",
        "factor": "二氧化硫",  # the worst exceedance behind the level: 150 against 100
        "value": "150 mg/m³",
        "limit": "100 mg/m³",
        "multiple": "0.5",
    }
    assert "蓝色预警" in sms.subject


def test_officers_acknowledge_verify_and_close_and_wrong_steps_are_refused(sessions: sessionmaker[Session]) -> None:
    _apply(sessions, _daily(list(range(10))), last=12)
    with sessions() as session:
        [alarm] = session.scalars(select(Alarm))
        assert alarm.level == "red"
        with pytest.raises(AlarmStateError, match="is open: cannot close"):
            close(session, alarm.id, actor="张三", comment="", now=NOW)
        with pytest.raises(AlarmStateError, match="unknown verdict 'maybe'"):
            verify(session, alarm.id, verdict="maybe", actor="张三", comment="", now=NOW)
        acknowledge(session, alarm.id, actor="张三", comment="已电话联系企业", now=NOW)
        verify(session, alarm.id, verdict="real_exceedance", actor="张三", comment="现场核实", now=NOW)
        close(session, alarm.id, actor="李四", comment="已立案", now=NOW)
        with pytest.raises(AlarmStateError, match="no alarm 99"):
            acknowledge(session, 99, actor="张三", comment="", now=NOW)
        session.commit()
        steps = [(e.action, e.actor, e.comment) for e in session.scalars(select(AlarmEvent).order_by(AlarmEvent.id))]
    assert steps[-3:] == [
        ("acknowledge", "张三", "已电话联系企业"),
        ("verify", "张三", "现场核实"),
        ("close", "李四", "已立案"),
    ]


def test_an_alarm_cleared_before_verification_can_be_verified_after_the_fact(sessions: sessionmaker[Session]) -> None:
    _apply(sessions, _daily([0]))
    with sessions() as session:
        [alarm] = session.scalars(select(Alarm))
        assert alarm.state == "cleared_unverified"
        verify(session, alarm.id, verdict="equipment_fault", actor="张三", comment="分析仪故障", now=NOW)
        assert (alarm.state, alarm.verdict) == ("cleared", "equipment_fault")
        close(session, alarm.id, actor="张三", comment="", now=NOW)
        assert alarm.state == "closed"


def test_a_unit_that_exceeds_again_after_an_alarm_closed_gets_a_new_alarm(sessions: sessionmaker[Session]) -> None:
    _apply(sessions, _daily([0, 35]))
    with sessions() as session:
        alarms = session.scalars(select(Alarm).order_by(Alarm.id)).all()
    assert [(a.state, a.opened_at is not None) for a in alarms] == [("cleared_unverified", True), ("open", True)]


def test_a_run_that_replays_several_escalations_sends_only_the_level_it_ends_on(
    sessions: sessionmaker[Session],
) -> None:
    # ten exceedance days graded in one run: blue, yellow, orange and red are all recorded, but the
    # four people of unit 1 hear once each, of red
    applied = _apply(sessions, _daily(list(range(10))), last=9)
    assert [e[:2] for e in _events(sessions)] == [
        ("opened", "blue"),
        ("raised", "yellow"),
        ("raised", "orange"),
        ("raised", "red"),
    ]
    assert applied["messages"] == 4
    with sessions() as session:
        sent = session.scalars(select(OutboxMessage)).all()
    assert {m.params["level"] for m in sent if m.params} == {"红色"}
    assert all("红色" in m.subject for m in sent)


def test_the_next_run_tells_of_a_new_escalation_only(sessions: sessionmaker[Session]) -> None:
    _apply(sessions, _daily([0, 1]), last=1)  # opened blue: told
    assert _apply(sessions, _daily([0, 1]), last=2)["messages"] == 0  # blue held: nothing new
    assert _apply(sessions, _daily([0, 1, 3]), last=3)["messages"] == 4  # yellow: told


def test_an_alarm_and_each_step_carry_the_worst_exceedance_behind_the_level(sessions: sessionmaker[Session]) -> None:
    rows = [
        (1, 7, "a21026", D0, 150.0, 100.0, True, False),  # SO2 0.5 times over
        (1, 7, "a21002", D0, 80.0, 100.0, True, False),
        (1, 7, "a21002", D0 + timedelta(days=1), 320.0, 200.0, True, False),  # NOx 0.6 times over
        (1, 7, "a34013", D0 + timedelta(days=2), 25.0, 20.0, True, False),  # dust 0.25 times over
    ]
    frame = pl.DataFrame(
        rows, schema=["unit", "outlet", "factor", "day", "value", "limit", "valid", "marked"], orient="row"
    )
    graded = grade(frame, D0, D0 + timedelta(days=2))
    assert graded["factor"].to_list() == ["a21026", "a21002", "a21002"]
    assert [round(m, 2) for m in graded["multiple"].to_list()] == [0.5, 0.6, 0.6]
    with sessions() as session:
        session.add(Outlet(id=7, unit_id=1, code="DA001", name="1号烟囱", medium="gas", o2_ref=6.0))
        session.commit()
        apply_grading(session, graded, Settings(), NOW)
        session.commit()
        [alarm] = session.scalars(select(Alarm))
        events = session.scalars(select(AlarmEvent).order_by(AlarmEvent.id)).all()
    assert (alarm.level, alarm.outlet_id, alarm.factor, alarm.value, alarm.limit) == (
        "yellow",
        7,
        "a21002",
        320.0,
        200.0,
    )
    assert [(e.action, e.factor, e.value, e.limit) for e in events] == [
        ("opened", "a21026", 150.0, 100.0),
        ("raised", "a21002", 320.0, 200.0),
    ]
