"""An overdue mark reaches somebody: an escalation nobody could be told of is retried, the
province is told where the city has nobody, and a mark still pending is escalated again."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, delete, select

from offsite.db import session_factory
from offsite.notify.models import OutboxMessage
from offsite.quality.escalation import escalate_overdue
from offsite.registry.models import Contact
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
