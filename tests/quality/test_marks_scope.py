"""Marks carry a scope (outlet, device, factor), a kind from the table, a decision deadline that
escalates, and the caps of their outlet's standard."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from offsite.cli import app
from offsite.db import session_factory
from offsite.db.schema import upgraded_engine
from offsite.hj212.times import CST
from offsite.notify.models import OutboxMessage
from offsite.quality.escalation import escalate_overdue
from offsite.quality.markcaps import mark_caps
from offsite.quality.marks import DataMark, MarkError, approved_marks, cap_findings, decide, file_mark, overdue_marks
from offsite.registry.models import Contact, Device, Outlet, Unit
from offsite.registry.regions import load_anhui
from offsite.settings import Settings

FILED = datetime(2026, 3, 2, 9, 0, tzinfo=CST)
"""A fixed clock: the marks are filed at 09:00 China time on 2 March 2026."""
runner = CliRunner()


def _plant(session: Session, *, standard: str | None = "GB18485-2014-day") -> None:
    """A waste incinerator in 蜀山区 (合肥市): one stack with a gas CEMS (SO2, NOx) and a dust meter,
    a city officer with e-mail and one with a phone, and a county officer."""
    load_anhui(session)
    session.add(
        Unit(id=1, credit_code="913401000000000001", name="甲焚烧厂", industry_code="D4417", region_code="340104")
    )
    session.flush()
    session.add(Outlet(id=1, unit_id=1, code="DA001", name="1号焚烧炉烟囱", medium="gas", standard=standard))
    session.add(Outlet(id=2, unit_id=1, code="DA002", name="2号焚烧炉烟囱", medium="gas", standard=standard))
    session.flush()
    session.add(Device(id=1, outlet_id=1, mn="MN-GAS", password_enc=b"-", factors="a21026,a21002,a19001"))
    session.add(Device(id=2, outlet_id=1, mn="MN-DUST", password_enc=b"-", factors="a34013"))
    session.add(Device(id=3, outlet_id=2, mn="MN-OTHER", password_enc=b"-", factors="a21026"))
    session.add_all(
        [
            Contact(
                name="合肥市执法员", role="city_officer", email="city@hf.example", channel="email", region_code="340100"
            ),
            Contact(name="合肥市值班", role="city_officer", phone="13900000100", channel="sms", region_code="340100"),
            Contact(
                name="蜀山区执法员", role="county_officer", phone="13900000104", channel="sms", region_code="340104"
            ),
        ]
    )
    session.commit()


def _file(session: Session, hours: float = 2, **scope: object) -> DataMark:
    start = FILED - timedelta(hours=hours)
    arguments = {"kind": "maintenance", "decide_within": 72.0} | scope
    return file_mark(
        session,
        outlet_id=1,
        start=start,
        end=FILED,
        reason="",
        by="企业",
        now=FILED,
        late_after=86400.0,
        **arguments,  # type: ignore[arg-type]
    )


def test_a_mark_is_scoped_to_a_device_or_a_factor_it_monitors(engine: Engine) -> None:
    with session_factory(engine)() as session:
        _plant(session)
        dust = _file(session, device="MN-DUST", factor="a34013")
        assert (dust.device_id, dust.factor) == (2, "a34013")
        outlet_so2 = _file(session, factor="a21026")  # the outlet monitors SO2 through its gas CEMS
        assert (outlet_so2.device_id, outlet_so2.factor) == (None, "a21026")
        with pytest.raises(MarkError, match="device MN-OTHER is at outlet 2, not at outlet 1"):
            _file(session, device="MN-OTHER")
        with pytest.raises(MarkError, match="no device with MN 'MN-NONE'"):
            _file(session, device="MN-NONE")
        with pytest.raises(MarkError, match=r"device MN-DUST does not monitor a21026 \(it monitors a34013\)"):
            _file(session, device="MN-DUST", factor="a21026")
        with pytest.raises(MarkError, match="'SO2' is not an HJ 212-2017 factor code"):
            _file(session, factor="SO2")
        with pytest.raises(MarkError, match="outlet 1 does not monitor w01018"):
            _file(session, factor="w01018")


def test_a_kind_given_as_a_chinese_term_or_code_is_stored_as_its_key(engine: Engine) -> None:
    with session_factory(engine)() as session:
        _plant(session)
        assert [_file(session, kind=k).kind for k in ("停运", "故障", "维护", "校准", "停炉", "F", "calibration")] == [
            "stopped",
            "fault",
            "maintenance",
            "calibration",
            "shutdown",
            "stopped",
            "calibration",
        ]
        with pytest.raises(MarkError, match=r"unknown mark kind '放假'; accepted: stopped \(停运/停产/F\)"):
            _file(session, kind="放假")


def test_pending_marks_take_effect_only_when_the_setting_says_filed(engine: Engine) -> None:
    with session_factory(engine)() as session:
        _plant(session)
        pending, approved, rejected = _file(session), _file(session), _file(session)
        decide(session, approved.id, approve=True, by="蜀山区", comment="", now=FILED)
        decide(session, rejected.id, approve=False, by="蜀山区", comment="", now=FILED)
        window = (FILED - timedelta(days=1), FILED + timedelta(days=1))
        assert [m.id for m in approved_marks(session, *window, now=FILED)] == [approved.id]
        filed = approved_marks(session, *window, takes_effect="filed", now=FILED)
        assert sorted(m.id for m in filed) == [pending.id, approved.id]
        with pytest.raises(MarkError, match="takes_effect 'sometimes'"):
            approved_marks(session, *window, takes_effect="sometimes")


def test_a_pending_mark_stops_hiding_data_once_its_deadline_passes(engine: Engine) -> None:
    with session_factory(engine)() as session:
        _plant(session)
        pending, approved = _file(session), _file(session)
        decide(session, approved.id, approve=True, by="蜀山区", comment="", now=FILED)
        window = (FILED - timedelta(days=1), FILED + timedelta(days=1))
        before = FILED + timedelta(hours=71)
        after = FILED + timedelta(hours=73)  # its 72 h to be decided have run out
        assert sorted(m.id for m in approved_marks(session, *window, takes_effect="filed", now=before)) == [
            pending.id,
            approved.id,
        ]
        assert [m.id for m in approved_marks(session, *window, takes_effect="filed", now=after)] == [approved.id]
        assert approved_marks(session, *window, takes_effect="filed", now=after)[0].state == "approved"


def test_a_window_too_long_too_old_or_beyond_the_deadline_is_refused(engine: Engine) -> None:
    limits = {"max_window": 744.0, "backdate_limit": 720.0}
    with session_factory(engine)() as session:
        _plant(session)

        def file(start: datetime, end: datetime) -> DataMark:
            return file_mark(
                session,
                outlet_id=1,
                kind="维护",
                start=start,
                end=end,
                reason="",
                by="企业",
                now=FILED,
                late_after=86400.0,
                decide_within=72.0,
                **limits,
            )

        with pytest.raises(MarkError, match=r"spans 876576 h, more than the 744 h a mark may cover"):
            file(datetime(2000, 1, 1, tzinfo=CST), datetime(2099, 12, 31, tzinfo=CST))
        with pytest.raises(MarkError, match=r"starts 2026-01-01 00:00 \+08:00, more than 720 h before filing"):
            file(datetime(2026, 1, 1, tzinfo=CST), datetime(2026, 1, 2, tzinfo=CST))
        with pytest.raises(MarkError, match=r"ends 2026-03-06 09:00 \+08:00, after the mark's decision deadline"):
            file(FILED, FILED + timedelta(days=4))
        kept = file(FILED - timedelta(days=29), FILED - timedelta(days=28))  # within every limit
        assert kept.decide_by == FILED + timedelta(hours=72)


def test_an_overdue_mark_is_escalated_to_the_city_once_and_stays_pending(engine: Engine) -> None:
    settings = Settings(mark_decide_within=48.0)
    with session_factory(engine)() as session:
        _plant(session)
        mark = _file(session, decide_within=settings.mark_decide_within, device="MN-DUST", factor="a34013")
        assert mark.decide_by == FILED + timedelta(hours=48)
        decided = _file(session)
        decide(session, decided.id, approve=False, by="蜀山区", comment="", now=FILED)
        session.commit()
        before = escalate_overdue(session, settings, FILED + timedelta(hours=47))
        assert (before.marks, before.messages) == ([], 0)  # not due yet
        due = FILED + timedelta(hours=49)
        assert [m.id for m in overdue_marks(session, due)] == [mark.id]
        done = escalate_overdue(session, settings, due)
        session.commit()
        assert (done.marks, done.messages) == ([mark.id], 2)
        again = escalate_overdue(session, settings, due + timedelta(hours=1))
        assert (again.marks, again.messages) == ([], 0)  # not again within mark_escalate_every
        session.refresh(mark)
        assert (mark.state, mark.escalated_at) == ("pending", due)  # never approved by default
        later = due + timedelta(hours=settings.mark_escalate_every)
        repeated = escalate_overdue(session, settings, later)  # still pending a day on: told again
        session.commit()
        assert (repeated.marks, repeated.messages) == ([mark.id], 2)
        session.refresh(mark)
        assert mark.escalated_at == later
        messages = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [(m.channel, m.address, m.template) for m in messages[:2]] == [
        ("email", "city@hf.example", None),
        ("sms", "13900000100", "SMS_MARK_OVERDUE"),
    ]  # the city's officers, not the county's who left it undecided
    assert "2026-03-04 09:00 +08:00" in messages[0].body
    # a person reads the kind's and the factor's Chinese names, not stopped / a34013 alone
    assert "（维护，" in messages[0].body
    assert "因子 烟尘（a34013）" in messages[0].body
    assert "maintenance" not in messages[0].body
    assert "再次提请督办" in messages[2].body
    assert messages[1].params == {"unit": "甲焚烧厂", "mark": str(mark.id), "deadline": "2026-03-04 09:00 +08:00"}


def test_caps_of_the_outlets_standard_are_found_per_episode_and_per_year(engine: Engine) -> None:
    caps = mark_caps()
    with session_factory(engine)() as session:
        _plant(session)
        long_fault = _file(session, 6, kind="fault")
        short_fault = _file(session, 3, kind="fault")
        startups = [_file(session, 25, kind="startup"), _file(session, 30, kind="startup")]
        maintenance = _file(session, 40, kind="maintenance")  # not a kind the year's cap counts
        found = cap_findings(session, [long_fault, short_fault, *startups, maintenance], caps)
    assert found == {
        long_fault.id: "exceeds 4 h per episode: 6 h",
        startups[1].id: "exceeds 60 h/yr: 64 h",  # 6 + 3 + 25 + 30
    }


def test_no_caps_where_the_outlets_standard_sets_none(engine: Engine) -> None:
    with session_factory(engine)() as session:
        _plant(session, standard="GB13223-2011-coal")
        assert cap_findings(session, [_file(session, 80, kind="fault")], mark_caps()) == {}


def test_marks_cli_files_a_scoped_mark_and_lists_scope_deadline_and_cap(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    with session_factory(upgraded_engine(url))() as session:
        _plant(session)
    now = datetime.now(UTC)
    filed = runner.invoke(
        app,
        [
            *("marks", "file", "--outlet", "1", "--kind", "故障", "--by", "企业", "--device", "MN-DUST"),
            *("--factor", "a34013", "--start", (now - timedelta(hours=5)).isoformat(), "--end", now.isoformat()),
            *("--database-url", url),
        ],
    )
    assert filed.exit_code == 0, filed.output
    assert filed.stdout.splitlines()[1].startswith("mark 1: fault, factor a34013 of device MN-DUST; to be decided by ")
    assert filed.stdout.splitlines()[1].endswith("+08:00")
    assert "warning: mark 1 exceeds 4 h per episode: 5 h" in filed.stderr
    refused = runner.invoke(
        app,
        [
            *("marks", "file", "--outlet", "1", "--kind", "holiday", "--by", "企业"),
            *("--start", (now - timedelta(hours=1)).isoformat(), "--end", now.isoformat(), "--database-url", url),
        ],
    )
    assert refused.exit_code == 2
    assert "unknown mark kind 'holiday'; accepted: stopped" in refused.stderr
    listed = runner.invoke(app, ["marks", "list", "--format", "json", "--database-url", url])
    (row,) = json.loads(listed.stdout)
    assert (row["scope"], row["device"], row["factor"], row["kind"]) == (
        "factor a34013 of device MN-DUST",
        "MN-DUST",
        "a34013",
        "fault",
    )
    assert row["cap"] == "exceeds 4 h per episode: 5 h"
    assert row["start"].endswith("+08:00")
    table = runner.invoke(app, ["marks", "list", "--database-url", url], env={"COLUMNS": "200"}).stdout
    assert "北京时间 UTC+8" in table.splitlines()[0]
    assert "+00:00" not in table
    assert "exceeds 4 h per episode: 5 h" in table
    assert runner.invoke(app, ["marks", "list", "--overdue", "--database-url", url]).stdout == (
        "no marks past their decision deadline\n"
    )
    csv = runner.invoke(app, ["marks", "list", "--csv", "--database-url", url]).stdout.splitlines()
    assert csv[0].startswith("id,outlet,scope,device,factor,kind,start,end,state")


def test_marks_list_overdue_shows_pending_marks_past_their_deadline(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    with session_factory(upgraded_engine(url))() as session:
        _plant(session)
        late = _file(session)  # filed on 2 March 2026 with 72 h to decide: long past
        _file(session, decide_within=24.0 * 365 * 100)
        session.commit()
    out = json.loads(runner.invoke(app, ["marks", "list", "--overdue", "--json", "--database-url", url]).stdout)
    assert [r["id"] for r in out] == [late.id]
    assert out[0]["decide_by"] == "2026-03-05T09:00:00+08:00"


def test_the_workers_marks_job_escalates_what_is_overdue(tmp_path: Path) -> None:
    from offsite.jobs.scheduled import JOBS

    url = f"sqlite:///{tmp_path / 'x.db'}"
    engine = upgraded_engine(url)
    with session_factory(engine)() as session:
        _plant(session)
        _file(session)  # its 72 h ran out in March 2026
        session.commit()
    assert JOBS["marks"](engine, Settings(database_url=url)) == "marks: escalated 1 overdue marks, 2 messages"
    assert JOBS["marks"](engine, Settings(database_url=url)) == "marks: escalated 0 overdue marks, 0 messages"


def test_the_tables_ship_with_the_package() -> None:
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text(encoding="utf-8")
    assert '"offsite.quality" = ["data/*.toml"]' in pyproject


def test_marks_cli_refuses_a_window_of_a_century_and_lists_kinds_and_factors_in_chinese(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    with session_factory(upgraded_engine(url))() as session:
        _plant(session)
    century = runner.invoke(
        app,
        [
            *("marks", "file", "--outlet", "1", "--kind", "维护", "--factor", "a34013", "--by", "企业"),
            *("--start", "2000-01-01T00:00:00+08:00", "--end", "2099-12-31T00:00:00+08:00", "--database-url", url),
        ],
    )
    assert century.exit_code == 2
    assert century.stderr.startswith("error: the window spans 876576 h, more than the 744 h a mark may cover")
    assert len(century.stderr.splitlines()) == 1
    now = datetime.now(UTC)
    filed = runner.invoke(
        app,
        [
            *("marks", "file", "--outlet", "1", "--kind", "维护", "--factor", "a34013", "--by", "企业"),
            *("--start", (now - timedelta(hours=2)).isoformat(), "--end", now.isoformat(), "--database-url", url),
        ],
    )
    assert filed.exit_code == 0, filed.output
    table = runner.invoke(app, ["marks", "list", "--database-url", url]).stdout
    header, row = (line.split() for line in table.splitlines()[1:4:2])
    assert header == ["编号", "排放口", "范围", "类型", "时段", "状态", "逾期", "超限"]
    # a Rich table like every other listing: the outlet's code, the factor, kind and state in Chinese
    assert row[:4] == ["1", "DA001", "烟尘", "维护"]
    assert row[-3:] == ["待审", "否", "-"]
    assert "\t" not in table
    assert "outlet" not in table
    assert "pending" not in table
    (listed,) = json.loads(runner.invoke(app, ["marks", "list", "--json", "--database-url", url]).stdout)
    assert (listed["kind"], listed["kind_name"], listed["factor_name"]) == ("maintenance", "维护", "烟尘")


def test_marks_list_says_states_overdue_and_scopes_in_chinese(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    with session_factory(upgraded_engine(url))() as session:
        _plant(session)
        overdue = _file(session, kind="stopped")  # filed in March 2026 with 72 h to decide: overdue
        approved = _file(session, device="MN-DUST")
        approved.state = "approved"
        _file(session, decide_within=24.0 * 365 * 100).state = "rejected"
        session.commit()
        overdue_id = overdue.id
    table = runner.invoke(app, ["marks", "list", "--database-url", url], env={"COLUMNS": "120"}).stdout
    rows = {line.split()[0]: line.split() for line in table.splitlines()[3:] if line.split()[:1] != []}
    assert rows[str(overdue_id)][2:4] == ["整个排放口", "停运"]
    assert rows[str(overdue_id)][-3:] == ["待审", "已逾期", "-"]
    assert rows[str(approved.id)][2:4] == ["设备", "MN-DUST"]
    assert "已批准" in rows[str(approved.id)]
    assert any("已驳回" in r for r in rows.values())
    for english in ("pending", "approved", "rejected", "outlet", "stopped"):
        assert english not in table
