"""Screening takes a mark as in effect exactly when judgement does (``mark_takes_effect``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from offsite.db import session_factory
from offsite.quality.marks import DataMark
from offsite.screening.database import _marks
from offsite.settings import get_settings
from tests.alarms.test_judgement import MIDNIGHT, _registry


@pytest.mark.parametrize(("takes_effect", "pending_counts"), [("approved", False), ("filed", True)])
def test_a_pending_mark_hides_data_from_screening_only_once_filing_is_enough(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, takes_effect: str, pending_counts: bool
) -> None:
    _registry(engine)
    monkeypatch.setenv("OFFSITE_MARK_TAKES_EFFECT", takes_effect)
    get_settings.cache_clear()
    window = (MIDNIGHT + timedelta(hours=2), MIDNIGHT + timedelta(hours=6))
    with session_factory(engine)() as session:
        # pending with its deadline to come; rejected; pending past its deadline (hides nothing any more)
        soon = datetime.now(UTC) + timedelta(days=1)
        for state, due in (("pending", soon), ("rejected", None), ("pending", window[1])):
            session.add(
                DataMark(
                    outlet_id=1,
                    device_id=2,
                    kind="maintenance",
                    start_at=window[0],
                    end_at=window[1],
                    reason="-",
                    filed_by="企业",
                    filed_at=window[0],
                    late=False,
                    state=state,
                    decide_by=due,
                )
            )
        session.commit()
        devices = [{"id": d, "mn": f"MN000{d}", "outlet": 1} for d in (1, 2)]
        marks = _marks(session, devices, MIDNIGHT, MIDNIGHT + timedelta(days=1))
    assert marks["mn"].to_list() == ["MN0002"] * 3  # a device's mark stays with that device
    assert sorted(marks["approved"].to_list()) == [False, False, pending_counts]  # rejected or overdue: never
