"""The shared column types hold instants exactly, on both back ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import StatementError

from offsite.db.base import from_micros, to_micros
from offsite.store.archive import ArchiveWriter, Incoming
from offsite.store.models import ArchiveCheckpoint, RawPacket


def test_an_aware_instant_round_trips_to_the_microsecond(engine: Engine) -> None:
    moment = datetime(2026, 11, 29, 18, 30, 15, 123456, tzinfo=timezone(timedelta(hours=8)))
    ArchiveWriter(engine, "w").append([Incoming(b"x", "peer", moment)])
    with engine.connect() as conn:
        stored = conn.scalar(select(RawPacket.received_at))
    assert stored == moment
    assert stored is not None
    assert stored.tzinfo is not None
    assert stored.utcoffset() == timedelta(0)


def test_a_naive_datetime_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        ArchiveWriter(engine, "w").append([Incoming(b"x", "peer", datetime(2026, 1, 1))])
    with pytest.raises(StatementError, match="naive datetime"), engine.begin() as conn:  # the column type refuses too
        conn.execute(
            insert(ArchiveCheckpoint).values(writer="w", seq=1, hash=b"0" * 32, created_at=datetime(2026, 1, 1))
        )


def test_micros_conversion_is_exact_around_the_epoch() -> None:
    for moment in (datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), datetime(2099, 1, 1, tzinfo=UTC)):
        assert from_micros(to_micros(moment)) == moment
