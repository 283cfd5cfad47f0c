"""GB 18485's caps on marked hours take effect ([R]): a fault exempts at most 4 h an episode,
start-up, shut-down and faults at most 60 h a year; the hours beyond stay judged. The tables of
kinds and caps are checked field by field."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from offsite.db import session_factory
from offsite.hj212.times import CST
from offsite.quality.markcaps import MarkCapsError, mark_caps
from offsite.quality.markkinds import mark_kinds
from offsite.quality.marks import DataMark, approved_marks
from offsite.settings import Settings
from tests.quality.test_marks_scope import _plant

YEAR = datetime(2026, 1, 1, tzinfo=CST)


def _approved(session: Session, kind: str, start: datetime, hours: float, *, outlet: int = 1) -> DataMark:
    mark = DataMark(
        outlet_id=outlet,
        kind=kind,
        start_at=start,
        end_at=start + timedelta(hours=hours),
        reason="",
        filed_by="企业",
        filed_at=start,
        late=False,
        state="approved",
    )
    session.add(mark)
    session.flush()
    return mark


def _exempt(session: Session, settings: Settings | None = None) -> dict[int, float]:
    windows = approved_marks(session, YEAR, YEAR + timedelta(days=365), now=YEAR, settings=settings or Settings())
    return {m.id: (m.end_at - m.start_at).total_seconds() / 3600 for m in windows}


def test_a_fault_exempts_four_hours_of_its_episode_and_the_year_sixty(engine: Engine) -> None:
    with session_factory(engine)() as session:
        _plant(session)
        startups = [_approved(session, "startup", YEAR + timedelta(days=d), 25) for d in (10, 40)]
        fault = _approved(session, "fault", YEAR + timedelta(days=60), 6)
        # one fault filed as two marks, the second where the first ended: one episode
        first, second = (_approved(session, "fault", YEAR + timedelta(days=70, hours=h), 3) for h in (0, 3))
        late = _approved(session, "shutdown", YEAR + timedelta(days=80), 10)
        spent = _approved(session, "startup", YEAR + timedelta(days=90), 5)
        calibration = _approved(session, "calibration", YEAR + timedelta(days=90), 50)  # no cap for it
        other = _approved(session, "startup", YEAR + timedelta(days=90), 70, outlet=2)  # its own year (per furnace)
        session.commit()
        exempt = _exempt(session)
        session.refresh(fault)
        assert fault.end_at == fault.start_at + timedelta(hours=6)  # the stored mark is not cut
    # 25 + 25 + 4 (of 6) + 3 + 1 (the episode's fourth hour) = 58: 2 h of the shut-down are left
    assert exempt == {
        startups[0].id: 25,
        startups[1].id: 25,
        fault.id: 4,
        first.id: 3,
        second.id: 1,
        late.id: 2,
        calibration.id: 50,
        other.id: 60,
    }
    assert spent.id not in exempt  # nothing left of the year's 60 h


def test_caps_only_shown_when_not_enforced(engine: Engine) -> None:
    with session_factory(engine)() as session:
        _plant(session)
        fault = _approved(session, "fault", YEAR, 6)
        session.commit()
        assert _exempt(session, Settings(mark_caps_enforced=False)) == {fault.id: 6}
        assert _exempt(session) == {fault.id: 4}


def test_no_caps_where_the_standard_sets_none(engine: Engine) -> None:
    with session_factory(engine)() as session:
        _plant(session, standard="GB13223-2011-coal")
        fault = _approved(session, "fault", YEAR, 80)
        session.commit()
        assert _exempt(session) == {fault.id: 80}


def test_a_caps_kind_may_be_a_chinese_term_and_is_stored_as_its_key(tmp_path: Path) -> None:
    path = tmp_path / "caps.toml"
    path.write_text('[[cap]]\nstandards = ["GB18485-2014-day"]\nkinds = ["故障", "启炉"]\nper = "year"\nhours = 60\n')
    (cap,) = mark_caps(path)
    assert cap.kinds == ("fault", "startup")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("cap = 5", r"'cap' must be a list of \[\[cap\]\] tables, not int"),
        (
            '[[cap]]\nstandards = "GB18485-2014"\nkinds = ["fault"]\nper = "episode"\nhours = 4',
            r"cap 1: standards 'GB18485-2014' must be a non-empty list of non-empty texts",
        ),
        (
            '[[cap]]\nstandards = ["GB18485-2014"]\nkinds = ["fault"]\nper = "episode"\nhours = nan',
            r"cap 1: hours nan must be a finite positive number",
        ),
        (
            '[[cap]]\nstandards = ["GB18485-2014"]\nkinds = ["fault"]\nper = "episode"\nhours = inf',
            r"cap 1: hours inf must be a finite positive number",
        ),
        (
            '[[cap]]\nstandards = ["GB18485-2014"]\nkinds = ["fault"]\nper = "episode"\nhours = true',
            r"cap 1: hours True must be a finite positive number",
        ),
        (
            '[[cap]]\nstandards = ["GB18485-2014"]\nkinds = ["放假"]\nper = "episode"\nhours = 4',
            r"cap 1: kinds: '放假' is not a mark kind; accepted: stopped",
        ),
        (
            '[[cap]]\nstandards = ["GB18485-2014"]\nkinds = "fault"\nper = "episode"\nhours = 4',
            r"cap 1: kinds 'fault' must be a non-empty list",
        ),
    ],
)
def test_a_bad_caps_table_is_refused_naming_the_file_the_cap_and_the_field(
    tmp_path: Path, text: str, error: str
) -> None:
    path = tmp_path / "caps.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MarkCapsError, match=f"{path}: {error}" if not error.startswith("'cap'") else error):
        mark_caps(path, mark_kinds())
