"""Offline and missing-daily-data alarms open while the condition holds and clear when it ends."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from offsite.alarms.conditions import check_missing_daily, check_offline
from offsite.alarms.models import Alarm
from offsite.db import make_engine, session_factory
from offsite.gateway.models import DeviceStatus
from offsite.hj212.times import CST
from offsite.notify.models import OutboxMessage
from offsite.registry.models import Contact, Device, Outlet, Unit
from offsite.registry.regions import load_anhui
from offsite.settings import Settings
from offsite.store.models import DAY
from offsite.store.values import ValueWriter

NOW = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
SETTINGS = Settings(alarm_offline_after=86400.0)


@pytest.fixture
def sessions(database_url: str) -> sessionmaker[Session]:
    factory = session_factory(make_engine(database_url))
    with factory() as session:
        load_anhui(session)
        for n, status in [(1, "producing"), (2, "producing"), (3, "stopped")]:
            session.add(
                Unit(
                    id=n,
                    credit_code=f"91340100000000000{n}",
                    name=f"厂{n}",
                    industry_code="C2614",
                    region_code="340104",
                    status=status,
                )
            )
        session.flush()
        for n in (1, 2, 3):
            session.add(Outlet(id=n, unit_id=n, code="DA001", name="烟囱", medium="gas"))
        session.flush()
        for n in (1, 2, 3):
            session.add(Device(id=n, outlet_id=n, mn=f"MN{n}", password_enc=b"-", networked_on=date(2026, 11, 1)))
        session.add(
            Contact(
                name="蜀山区执法员", role="county_officer", phone="13900000104", channel="sms", region_code="340104"
            )
        )
        session.flush()
        # Device 1 last heard two days ago; device 2 an hour ago; device 3 (stopped unit) never.
        for device, seen in [(1, NOW - timedelta(days=2)), (2, NOW - timedelta(hours=1))]:
            session.add(DeviceStatus(device_id=device, status="online", since=seen, last_seen=seen, peer=None))
        session.commit()
    return factory


def _alarms(sessions: sessionmaker[Session], kind: str) -> list[tuple[int, str]]:
    with sessions() as session:
        return [
            (a.unit_id, a.state) for a in session.scalars(select(Alarm).where(Alarm.kind == kind).order_by(Alarm.id))
        ]


def test_offline_alarm_opens_once_and_clears_when_the_device_calls_again(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        first = check_offline(session, SETTINGS, NOW)
        again = check_offline(session, SETTINGS, NOW + timedelta(hours=1))
        session.commit()
    assert (first.opened, first.messages, again.opened) == (1, 1, 0)
    assert _alarms(sessions, "offline") == [(1, "open")]
    with sessions() as session:
        session.execute(update(DeviceStatus).where(DeviceStatus.device_id == 1).values(last_seen=NOW))
        cleared = check_offline(session, SETTINGS, NOW + timedelta(hours=2))
        session.commit()
        [message] = session.scalars(select(OutboxMessage))
    assert cleared.cleared == 1
    assert _alarms(sessions, "offline") == [(1, "cleared_unverified")]
    assert "离线" in message.subject


def test_a_networked_device_never_heard_from_is_offline(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        session.execute(update(Unit).where(Unit.id == 3).values(status="producing"))
        check_offline(session, SETTINGS, NOW)
        session.commit()
    assert _alarms(sessions, "offline") == [(1, "open"), (3, "open")]


def test_missing_daily_data_alarm_clears_when_the_day_is_backfilled(
    sessions: sessionmaker[Session], database_url: str
) -> None:
    day = date(2026, 11, 27)
    engine = make_engine(database_url)
    row = {
        "device_id": 2,
        "period": DAY,
        "factor": "a21026",
        "ts": datetime.combine(day, time(), CST).astimezone(UTC),
        "avg": 20.0,
        "zs_avg": None,
        "flag": "N",
        "raw_id": None,
    }
    with engine.begin() as conn:
        ValueWriter().interval(conn, [row])
    with sessions() as session:
        check_missing_daily(session, day, SETTINGS, NOW)
        session.commit()
    assert _alarms(sessions, "missing") == [(1, "open")]  # unit 2 reported; unit 3 is stopped
    with engine.begin() as conn:
        ValueWriter().interval(conn, [row | {"device_id": 1}])
    with sessions() as session:
        assert check_missing_daily(session, day, SETTINGS, NOW).cleared == 1
        session.commit()
    assert _alarms(sessions, "missing") == [(1, "cleared_unverified")]
