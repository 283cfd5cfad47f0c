"""What an officer reads of a graded alarm whose worst day is not a daily mean against a limit: a
waste incinerator's furnace-temperature breach, where configured to count toward grading."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Engine, select

from offsite.alarms.models import Alarm
from offsite.alarms.recompute import recompute
from offsite.db import session_factory
from offsite.hj212.times import CST
from offsite.notify.models import OutboxMessage
from offsite.registry.models import Contact, Device, Outlet, Unit
from offsite.registry.regions import load_anhui
from offsite.settings import Settings
from offsite.store.models import MINUTE
from offsite.store.values import ValueWriter

D = date(2026, 11, 10)
MIDNIGHT = datetime.combine(D, time(), CST)
NOW = MIDNIGHT + timedelta(days=2)


def _incinerator(engine: Engine, cold_windows: int) -> None:
    """A furnace at 900 ℃ all day but for ``cold_windows`` 5-minute windows at 820 ℃ from 08:00,
    and the county officer, by SMS and e-mail."""
    with session_factory(engine)() as session:
        load_anhui(session)
        session.add(
            Unit(id=1, credit_code="913401000000000001", name="焚烧厂", industry_code="D4417", region_code="340104")
        )
        session.flush()
        session.add(Outlet(id=1, unit_id=1, code="DA001", name="1号焚烧炉", medium="gas", o2_ref=11.0))
        session.flush()
        session.add(Device(id=1, outlet_id=1, mn="MN0001", password_enc=b"-", factors="a01901"))
        for channel in ("sms", "email"):
            session.add(
                Contact(
                    name=f"蜀山区{channel}", role="county_officer", phone="13800000000", email="c@hf.example",
                    channel=channel, region_code="340104",
                )
            )  # fmt: skip
        session.commit()
    cold = MIDNIGHT + timedelta(hours=8)
    rows = [
        {
            "device_id": 1,
            "period": MINUTE,
            "factor": "a01901",
            "ts": at.astimezone(UTC),
            "avg": 820.0 if cold <= at < cold + timedelta(minutes=5 * cold_windows) else 900.0,
            "zs_avg": None,
            "flag": "N",
            "raw_id": None,
        }
        for at in (MIDNIGHT + timedelta(minutes=m) for m in range(24 * 60))
    ]
    with engine.begin() as conn:
        ValueWriter().interval(conn, rows)


def test_a_furnace_breach_that_counts_is_told_as_its_count_of_cold_means(engine: Engine) -> None:
    _incinerator(engine, cold_windows=7)
    settings = Settings(furnace_counts_toward_grading=True)
    recompute(engine, D, D, settings=settings, now=NOW, trigger="manual")
    with session_factory(engine)() as session:
        [alarm] = session.scalars(select(Alarm)).all()
        messages = session.scalars(select(OutboxMessage).order_by(OutboxMessage.channel)).all()
    assert (alarm.level, alarm.factor, alarm.value, alarm.limit) == ("blue", "a01901", 820.0, 850.0)
    assert [m.channel for m in messages] == ["email", "sms"]
    said = "1号焚烧炉（DA001）炉膛温度5分钟均值低于850℃共7次（每日不得超过5次）"
    for message in messages:
        assert said in message.body
        assert "日均值" not in message.body
        assert "限值" not in message.body
    params = messages[1].params
    assert params is not None
    assert (params["factor"], params["value"], params["limit"]) == (
        "炉膛温度",
        "5分钟均值低于850℃共7次",
        "每日不得超过5次",
    )
