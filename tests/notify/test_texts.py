"""A message says what happened — pollutant, outlet, value, limit, 超标倍数, China time — and a
digest or grouped e-mail is titled by the most severe notice it carries (issue 14 point 10)."""

from __future__ import annotations

import email.header
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from offsite.alarms.models import Alarm, AlarmEvent
from offsite.alarms.routing import exceedance_text, notify_alarm
from offsite.notify.channels import channels_for
from offsite.notify.models import OutboxMessage
from offsite.notify.outbox import deliver_due, enqueue
from offsite.notify.texts import bounded, china_time, level_of, level_tag, most_severe, pollutant_name
from offsite.registry.models import Contact, Limit, Outlet, Unit
from offsite.registry.regions import load_anhui
from offsite.settings import Settings
from tests.notify.servers import smtp_server

NOW = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)  # 10:00 China time


def test_an_exceedance_names_pollutant_outlet_value_limit_and_multiple() -> None:
    said = exceedance_text(factor="a21026", value=150.0, limit=100.0, outlet="1号锅炉排气筒（DA001）")
    assert said.text == "1号锅炉排气筒（DA001）二氧化硫日均值 150 mg/m³，限值 100 mg/m³，超标 0.5 倍"
    assert said.params["multiple"] == "0.5"
    assert exceedance_text(factor="w01018", value=61.25, limit=50.0, outlet=None).text.endswith(
        "61.25 mg/L，限值 50 mg/L，超标 0.23 倍"
    )


def test_ph_has_no_multiple_either_side() -> None:
    low = exceedance_text(factor="w01001", value=5.2, limit=6.0, outlet="废水总排口（DW001）").text
    high = exceedance_text(factor="w01001", value=10.5, limit=9.0, outlet=None).text
    assert low == "废水总排口（DW001）pH值日均值 5.2，限值 6，低于限值"
    assert high == "pH值日均值 10.5，限值 9，超出限值"
    assert "倍" not in low + high


def test_levels_are_read_back_from_their_tags_and_the_worst_wins() -> None:
    assert level_of(level_tag("orange") + "某厂") == "orange"
    assert level_of("something else") is None
    subjects = [level_tag(level) + "某厂" for level in ("blue", "red", "yellow")]
    assert most_severe(subjects) == "【红色预警】某厂"


def test_times_are_china_time_with_the_offset_written() -> None:
    assert china_time(datetime(2026, 12, 7, 0, 0, tzinfo=UTC)) == "2026-12-07 08:00 +08:00"


def _settings(**overrides: Any) -> Settings:
    return Settings(**({"notify_retry_base": 60.0, "notify_timeout": 5.0} | overrides))


@pytest.fixture
def unit_with_alarm(sessions: sessionmaker[Session]) -> int:
    """A unit, its stack, the city's officer by e-mail, and a red alarm on SO2 at 150 against 100."""
    with sessions() as session:
        load_anhui(session)
        session.add(
            Unit(
                id=1,
                credit_code="91340100MA2N000001",
                name="合肥某热电有限公司",
                industry_code="D4411",
                region_code="340104",
            )
        )
        session.flush()
        session.add(Outlet(id=1, unit_id=1, code="DA001", name="1号锅炉排气筒", medium="gas"))
        session.add(
            Contact(
                name="合肥市科长", role="city_officer", email="city@hf.example", channel="email", region_code="340100"
            )
        )
        session.flush()  # the outlet before the alarm that names it
        alarm = Alarm(
            unit_id=1, kind="exceedance", level="red", days=9, day=date(2026, 11, 28), state="open",
            opened_at=NOW, updated_at=NOW, outlet_id=1, factor="a21026", value=150.0, limit=100.0,
        )  # fmt: skip
        session.add(alarm)
        session.flush()
        event = AlarmEvent(
            alarm_id=alarm.id, at=NOW, actor="grading", action="raised", level="red", days=9,
            outlet_id=1, factor="a21026", value=150.0, limit=100.0,
        )  # fmt: skip
        session.add(event)
        session.flush()
        assert notify_alarm(session, event, _settings(), NOW) == 1
        session.commit()
        return alarm.id


def test_an_alarm_message_says_what_happened(sessions: sessionmaker[Session], unit_with_alarm: int) -> None:
    with sessions() as session:
        [message] = session.scalars(select(OutboxMessage)).all()
    assert message.subject == "【红色预警】合肥某热电有限公司"
    assert "1号锅炉排气筒（DA001）二氧化硫日均值 150 mg/m³，限值 100 mg/m³，超标 0.5 倍" in message.body
    assert "红色预警（2026-11-28）" in message.body
    assert "2026-11-29 10:00 +08:00" in message.body  # the step's time, China time


def test_a_grouped_email_is_titled_by_its_most_severe_notice(sessions: sessionmaker[Session]) -> None:
    with smtp_server() as (port, mailbox):
        settings = _settings(smtp_port=port)
        with sessions() as session:
            for n, level in enumerate(("blue", "yellow", "orange", "red", "blue")):
                enqueue(
                    session,
                    event_key=f"alarm:{n}:{level}",
                    channel="email",
                    address="city@hf.example",
                    subject=level_tag(level) + f"某厂{n}",
                    body="…",
                    now=NOW,
                )
            session.commit()
        deliver_due(sessions, channels_for(settings), settings, NOW)
    [mail] = mailbox.messages
    subject = str(email.header.make_header(email.header.decode_header(mail["Subject"])))
    assert subject.startswith("【红色预警】某厂3")


def test_a_digest_is_titled_by_its_most_severe_notice(sessions: sessionmaker[Session]) -> None:
    with smtp_server() as (port, mailbox):
        settings = _settings(smtp_port=port, notify_daily_cap=1, notify_group=False)
        with sessions() as session:
            for n, level in enumerate(("blue", "blue", "red", "yellow")):
                enqueue(
                    session,
                    event_key=f"alarm:{n}:{level}",
                    channel="email",
                    address="city@hf.example",
                    subject=level_tag(level) + f"某厂{n}",
                    body="…",
                    now=NOW,
                )
            session.commit()
        deliver_due(sessions, channels_for(settings), settings, NOW)
        deliver_due(sessions, channels_for(settings), settings, NOW + timedelta(days=1))
    digest = mailbox.messages[-1]
    subject = str(email.header.make_header(email.header.decode_header(digest["Subject"])))
    assert subject.startswith("【红色预警】某厂2")
    assert "汇总 3 条通知" in subject
    payload = digest.get_payload(decode=True)
    assert isinstance(payload, bytes)
    assert "2026-11-29 10:00 +08:00" in payload.decode("utf-8")


def test_a_corrected_value_is_called_the_corrected_daily_mean() -> None:
    said = exceedance_text(factor="a21026", value=150.0, limit=100.0, outlet=None, corrected=True)
    assert said.text == "二氧化硫折算浓度日均值 150 mg/m³，限值 100 mg/m³，超标 0.5 倍"


def test_particulate_matter_is_named_as_the_standards_name_it() -> None:
    said = exceedance_text(factor="a34013", value=15.0, limit=10.0, outlet=None, corrected=True)
    assert said.text.startswith("颗粒物（烟尘）折算浓度日均值 15 mg/m³")
    assert said.params["factor"] == "颗粒物（烟尘）"
    assert pollutant_name("a34013") == "颗粒物（烟尘）"
    assert pollutant_name("a21026") == "二氧化硫"


def test_a_name_is_cut_to_the_bound_with_an_ellipsis() -> None:
    assert bounded("合肥某热电有限公司", 20) == "合肥某热电有限公司"
    cut = bounded("安徽省合肥市某某某某某某某某热电联产有限责任公司", 20)
    assert (len(cut), cut) == (20, "安徽省合肥市某某某某某某某某热电联产有…")


LONG_UNIT = "安徽省合肥市某某某某某某某某热电联产有限责任公司"
LONG_OUTLET = "1号燃煤锅炉脱硫脱硝除尘后总排气筒"


def _alarm_on(
    session: Session, *, factor: str, basis: str | None, channel: str = "email", unit: str = "合肥某热电有限公司"
) -> tuple[AlarmEvent, Alarm]:
    """A unit with one stack (gas), a city officer reached on ``channel``, an optional daily limit
    of 100 on ``basis`` for ``factor``, and a red alarm whose worst exceedance is 150 of it."""
    load_anhui(session)
    session.add(Unit(id=1, credit_code="91340100MA2N000001", name=unit, industry_code="D4411", region_code="340104"))
    session.flush()
    session.add(Outlet(id=1, unit_id=1, code="DA001", name=LONG_OUTLET, medium="gas", o2_ref=6.0))
    session.add(
        Contact(
            name="合肥市科长", role="city_officer", phone="13800000000", email="city@hf.example",
            channel=channel, region_code="340100",
        )
    )  # fmt: skip
    session.flush()
    if basis is not None:
        session.add(
            Limit(
                outlet_id=1, factor=factor, standard="test", value=100.0, basis=basis, period="day",
                valid_from=date(2026, 1, 1), source="test",
            )
        )  # fmt: skip
    figures = {"outlet_id": 1, "factor": factor, "value": 150.0, "limit": 100.0}
    alarm = Alarm(
        unit_id=1, kind="exceedance", level="red", days=9, day=date(2026, 11, 28), state="open",
        opened_at=NOW, updated_at=NOW, **figures,
    )  # fmt: skip
    session.add(alarm)
    session.flush()
    event = AlarmEvent(alarm_id=alarm.id, at=NOW, actor="grading", action="raised", level="red", days=9, **figures)
    session.add(event)
    session.flush()
    return event, alarm


@pytest.mark.parametrize(
    ("basis", "said"), [("corrected", "二氧化硫折算浓度日均值 150"), ("measured", "二氧化硫日均值 150")]
)
def test_an_alarm_message_says_which_daily_mean_it_judged(
    sessions: sessionmaker[Session], basis: str, said: str
) -> None:
    with sessions() as session:
        event, _ = _alarm_on(session, factor="a21026", basis=basis)
        assert notify_alarm(session, event, _settings(), NOW) == 1
        [message] = session.scalars(select(OutboxMessage)).all()
    assert said + " mg/m³，限值 100 mg/m³" in message.body


def test_an_alarm_sms_bounds_the_unit_and_outlet_names(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        event, _ = _alarm_on(session, factor="a34013", basis="corrected", channel="sms", unit=LONG_UNIT)
        assert notify_alarm(session, event, _settings(sms_param_max_chars=12), NOW) == 1
        [message] = session.scalars(select(OutboxMessage)).all()
        session.commit()
    params = message.params
    assert params is not None
    assert params["unit"] == LONG_UNIT[:11] + "…"
    assert params["outlet"] == LONG_OUTLET[:11] + "…"
    assert all(len(value) <= 12 for value in params.values())
    assert params["factor"] == "颗粒物（烟尘）"
    assert LONG_UNIT in message.body  # the text itself keeps the whole name
    with sessions() as session:
        session.execute(delete(OutboxMessage))
        event = session.scalars(select(AlarmEvent)).one()
        assert notify_alarm(session, event, _settings(), NOW) == 1  # by default 20 characters
        [message] = session.scalars(select(OutboxMessage)).all()
    assert message.params is not None
    assert message.params["unit"] == LONG_UNIT[:19] + "…"
