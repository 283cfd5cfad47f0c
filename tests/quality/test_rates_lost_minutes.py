"""An hour whose minutes were partly lost on the way keeps the logger's own valid hour in the rates."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine

from offsite.quality.rates import _sent
from offsite.store.models import HOUR
from offsite.store.values import ValueWriter
from tests.alarms.test_judgement import _registry

AT = datetime(2026, 11, 10, 5, tzinfo=UTC)


def _computed(engine: Engine, factor: str, *, valid: bool) -> None:
    row = {"device_id": 1, "factor": factor, "period": HOUR, "ts": AT, "value": 40.0, "corrected": None}
    row |= {"standard": None, "load": None, "bound": None, "bound_corrected": None}
    row |= {"valid": valid, "n_valid": 24 if not valid else 60, "n_expected": 60}
    with engine.begin() as conn:
        ValueWriter().computed(conn, [row])


def test_an_invalid_computed_hour_gives_way_to_the_loggers_valid_hour(engine: Engine) -> None:
    _registry(engine)
    sent = [
        {"device_id": 1, "period": HOUR, "factor": f, "ts": AT, "avg": 40.0, "zs_avg": None, "flag": flag}
        for f, flag in (("a21026", "N"), ("a21002", "D"))
    ]
    with engine.begin() as conn:
        ValueWriter().interval(conn, sent)
    _computed(engine, "a21026", valid=False)  # 24 of 60 minutes reached us; the logger had them all
    _computed(engine, "a21002", valid=False)  # the logger itself flagged this hour D: still bad
    _computed(engine, "a34013", valid=False)  # no hour of its own from the logger: bad
    with engine.connect() as conn:
        found = _sent(conn, AT, AT.replace(hour=6), frozenset({"N"}))
    assert found[1] == {("a21026", AT): False, ("a21002", AT): True, ("a34013", AT): True}
