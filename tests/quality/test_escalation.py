"""An overdue mark reaches somebody: an escalation nobody could be told of is retried, the
province is told where the city has nobody, and a mark still pending is escalated again."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, delete, select

from offsite.db import session_factory
from offsite.notify.models import OutboxMessage
from offsite.notify.texts import bounded
from offsite.quality.escalation import escalate_overdue
from offsite.registry.models import Contact, Unit
from offsite.settings import Settings
from tests.quality.test_marks_scope import FILED, _file, _plant

DUE = FILED + timedelta(hours=73)


def test_an_escalation_nobody_hears_is_not_recorded_and_is_tried_again(engine: Engine) -> None:
    settings = Settings()
    with session_factory(engine)() as session:
        _plant(session)
        session.execute(delete(Contact).where(Contact.role == "city_officer"))
        mark = _file(session)
        session.commit()
        unheard = escalate_overdue(session, settings, DUE)
        session.commit()
        assert (unheard.marks, unheard.messages, unheard.unheard) == ([], 0, [mark.id])
        assert "no city or province officer to tell" in unheard.summary()
        session.refresh(mark)
        assert mark.escalated_at is None  # not escalated: nobody knows
        # an hour later the province has an officer: the next run tells them
        session.add(
            Contact(
                name="省厅执法员", role="province_officer", phone="13900000001", channel="sms", region_code="340000"
            )
        )
        session.commit()
        heard = escalate_overdue(session, settings, DUE + timedelta(hours=1))
        session.commit()
        assert (heard.marks, heard.messages, heard.unheard) == ([mark.id], 1, [])
        session.refresh(mark)
        assert mark.escalated_at == DUE + timedelta(hours=1)
        (message,) = session.scalars(select(OutboxMessage)).all()
    assert message.address == "13900000001"


def test_a_mark_still_pending_is_escalated_again_every_period_and_never_approved(engine: Engine) -> None:
    settings = Settings(mark_escalate_every=48.0)
    with session_factory(engine)() as session:
        _plant(session)
        mark = _file(session)
        session.commit()
        runs = [DUE, DUE + timedelta(hours=47), DUE + timedelta(hours=48), DUE + timedelta(days=400)]
        told = []
        for now in runs:
            told.append(escalate_overdue(session, settings, now).marks)
            session.commit()
        session.refresh(mark)
        assert mark.state == "pending"
    assert told == [[mark.id], [], [mark.id], [mark.id]]


def test_the_escalation_sms_cuts_a_long_unit_name_to_the_providers_limit(engine: Engine) -> None:
    settings = Settings(sms_param_max_chars=12)
    long_name = "安徽省合肥市蜀山区甲生活垃圾焚烧发电有限责任公司"
    with session_factory(engine)() as session:
        _plant(session)
        unit = session.get(Unit, 1)
        assert unit is not None
        unit.name = long_name
        _file(session)
        session.commit()
        assert escalate_overdue(session, settings, DUE).messages == 2
        session.commit()
        messages = {m.channel: m for m in session.scalars(select(OutboxMessage))}
    sms = messages["sms"].params
    assert sms is not None
    assert sms["unit"] == bounded(long_name, 12)
    assert len(sms["unit"]) == 12
    assert sms["unit"].endswith("…")
    assert long_name.startswith(sms["unit"][:-1])
    assert long_name in messages["email"].body  # the e-mail, which has no such limit, names it whole
