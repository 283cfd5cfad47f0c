"""``offsite demo`` end to end: a small province over real TCP, judged from the database.

The demo runs as a user runs it, as its own process; its scenario truth (``scenarios.jsonl``)
says what was planted where, and everything else is read back from the database and the local
sinks.
"""

from __future__ import annotations

import email
import email.policy
import json
import mailbox
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from offsite.alarms.models import Alarm
from offsite.db import make_engine
from offsite.db.schema import upgraded_engine
from offsite.demo.province import build
from offsite.notify.models import OutboxMessage
from offsite.registry.models import Device, Limit, Outlet, Unit
from offsite.screening.models import Clue
from offsite.store.heads import parse_heads
from offsite.store.models import DAY, HOUR, MINUTE, ComputedValue, IntervalValue, RawPacket
from offsite.store.signing import signer
from offsite.store.verification import verify
from tests.alarms.test_cli_alarms import plant_with_daily_values

UNITS = 20
DAYS = 30
TOUCH = timedelta(minutes=30)
"""A clue that touches its window within this counts (the return to normal ends the event)."""


def demo(url: str, cwd: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OFFSITE_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "offsite", "demo", "--port", "0", "--dir", str(cwd / "demo"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def ran(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One demo run per back end, shared by the checks below."""
    cwd = tmp_path_factory.mktemp(f"demo-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{cwd / 'offsite.db'}"
        yield _run(url, cwd)
    else:
        databases = request.getfixturevalue("postgres_databases")
        with databases.fresh() as url:
            yield _run(url, cwd)


def _run(url: str, cwd: Path) -> tuple[subprocess.CompletedProcess[str], Engine, Path, list[dict[str, Any]]]:
    result = demo(url, cwd, "--units", str(UNITS), "--duration", "45", "--plain")
    assert result.returncode == 0, result.stderr[-3000:]
    truth = [json.loads(line) for line in (cwd / "demo" / "scenarios.jsonl").read_text(encoding="utf-8").splitlines()]
    return result, make_engine(url), cwd / "demo", truth


def test_it_says_ready_and_stops_cleanly(ran: Any) -> None:
    result, _, _, _ = ran
    lines = result.stdout.splitlines()
    ready = [line for line in lines if line.startswith("ready:")]
    assert len(ready) == 1, result.stdout
    assert f"{DAYS} days filled" in ready[0]
    assert lines[-2].startswith("stopped:")


def test_the_month_s_evidence_is_signed_and_its_heads_published(ran: Any) -> None:
    result, engine, directory, _ = ran
    assert any(line.startswith("heads: 1 chain heads signed with key ") for line in result.stdout.splitlines())
    key = signer(directory)  # the demo's gateway made it in the demo's directory at its first start
    (published,) = (directory / "heads").glob("heads-*.jsonl")
    heads = parse_heads(published.read_text().splitlines(), str(published))
    checked = verify(engine, heads, public_key=key.public)
    assert checked.ok, checked.problems
    assert checked.signed >= 1  # the fill crossed at least one checkpoint, signed
    assert not (directory.parent / "offsite-data").exists()  # nothing written outside --dir


def test_packets_came_over_tcp_and_were_acknowledged(ran: Any) -> None:
    _, engine, _, _ = ran
    with engine.connect() as conn:
        devices = conn.scalar(select(func.count()).select_from(Device))
        outcomes = dict(conn.execute(select(RawPacket.outcome, func.count()).group_by(RawPacket.outcome)).all())
        peers = set(conn.scalars(select(RawPacket.peer).distinct()))
        hours = conn.scalar(select(func.count(func.distinct(IntervalValue.ts))).where(IntervalValue.period == HOUR))
        values = dict(conn.execute(select(IntervalValue.period, func.count()).group_by(IntervalValue.period)).all())
        unsourced = conn.scalar(select(func.count()).select_from(IntervalValue).where(IntervalValue.raw_id.is_(None)))
        began = conn.scalar(select(func.min(RawPacket.received_at)))
        assert began is not None
        # the history ends at the minute the demo began; later minutes came live (the first of
        # them catching up the minutes the fill took)
        live = conn.scalar(
            select(func.count(func.distinct(IntervalValue.ts))).where(
                IntervalValue.period == MINUTE, IntervalValue.ts >= began.replace(second=0, microsecond=0)
            )
        )
    assert devices == UNITS  # every unit of the first twenty has one outlet (building materials)
    # a month of hour packets per device at least, every one archived and accepted
    assert outcomes.get("ok", 0) >= devices * DAYS * 24
    assert set(outcomes) == {"ok"}, outcomes
    assert all(peer.startswith("127.0.0.1:") for peer in peers)
    assert hours is not None
    assert hours >= DAYS * 24
    assert values[MINUTE] > 0
    assert values[HOUR] > 0
    assert values[DAY] >= devices * (DAYS - 1)
    assert unsourced == 0  # every value points to its archived packet
    assert live is not None
    assert live >= 1


def test_hourly_and_daily_values_were_computed_from_the_minutes(ran: Any) -> None:
    _, engine, _, truth = ran
    fraud = {t["mn"] for t in truth if t["expect"].startswith("R")}
    with engine.connect() as conn:
        per = dict(
            conn.execute(
                select(Device.mn, func.count())
                .join(ComputedValue, ComputedValue.device_id == Device.id)
                .where(ComputedValue.period == DAY)
                .group_by(Device.mn)
            ).all()
        )
    # the three minute days of every fraud window became daily values, for each factor
    assert all(per.get(mn, 0) >= 3 for mn in fraud), per


def test_every_alarm_level_the_scenarios_cause_is_raised(ran: Any) -> None:
    _, engine, _, truth = ran
    expected = {t["unit"]: t["expect"] for t in truth if t["expect"] in ("blue", "yellow", "orange", "red")}
    assert set(expected.values()) == {"blue", "yellow", "orange", "red"}
    with engine.connect() as conn:
        raised = dict(
            conn.execute(
                select(Unit.credit_code, Alarm.level)
                .join(Unit, Unit.id == Alarm.unit_id)
                .where(Alarm.kind == "exceedance", Alarm.state == "open")
            ).all()
        )
    assert {unit: raised.get(unit) for unit in expected} == expected
    assert set(raised) == set(expected), "a unit without exceedance days was alarmed"


def test_each_fraud_scenario_gives_a_clue_of_its_rule_on_its_unit_and_window(ran: Any) -> None:
    _, engine, _, truth = ran
    clues = _clues(engine)
    missed = []
    for t in (t for t in truth if t["expect"].startswith("R")):
        start, end = datetime.fromisoformat(t["start"]), datetime.fromisoformat(t["end"])
        found = [
            c
            for c in clues
            if c["unit"] == t["unit"]
            and t["expect"] in c["rules"]
            and c["start"] < end + TOUCH
            and c["end"] > start - TOUCH
        ]
        if not found:
            missed.append(f"{t['scenario']} {t['expect']} {t['mn']} {t['start']}")
    assert not missed, missed
    assert any(c["unit_name"].startswith("宿州") and "R11" in c["rules"] for c in clues), "the article's case"


def test_clean_units_stay_clean(ran: Any) -> None:
    _, engine, _, truth = ran
    planted = {t["unit"] for t in truth}
    clean = [c for c in _clues(engine) if c["unit"] not in planted]
    with engine.connect() as conn:
        clean_units = conn.scalar(select(func.count()).select_from(Unit).where(Unit.credit_code.not_in(planted)))
    assert clean_units == UNITS - len(planted)
    assert [c for c in clean if c["score"] >= 0.5] == []
    assert len(clean) <= clean_units * DAYS / 100  # at most one lower-scored clue per 100 clean unit-days


def test_notifications_reached_the_local_sinks(ran: Any) -> None:
    _, engine, directory, _ = ran
    with engine.connect() as conn:
        sent = dict(
            conn.execute(
                select(OutboxMessage.channel, func.count())
                .where(OutboxMessage.state == "sent")
                .group_by(OutboxMessage.channel)
            ).all()
        )
    sms = (directory / "sms.jsonl").read_text(encoding="utf-8").splitlines()
    box = mailbox.Maildir(directory / "mail", create=False)
    mails = [email.message_from_bytes(box.get_bytes(key), policy=email.policy.default) for key in box.iterkeys()]
    assert sent.get("sms", 0) == len(sms) > 0  # one SMS per message: templates are never grouped
    assert 0 < len(mails) <= sent.get("email", 0)  # messages due together go as one e-mail
    first = json.loads(sms[0])
    assert first["template"] == "SMS_ALARM"
    assert first["params"]["level"]
    bodies = [str(m["Subject"]) + m.get_body().get_content() for m in mails]  # type: ignore[union-attr]
    assert any("红色预警" in body for body in bodies), bodies[:1]


def test_a_second_run_refuses_an_existing_demo_without_reset(ran: Any, tmp_path: Path) -> None:
    _, engine, _, _ = ran
    again = demo(engine.url.render_as_string(hide_password=False), tmp_path, "--units", str(UNITS), "--plain")
    assert again.returncode == 2
    assert "already holds a demo" in again.stderr
    assert "--reset" in again.stderr


def test_too_few_units_is_refused_before_anything_starts(tmp_path: Path) -> None:
    result = demo(f"sqlite:///{tmp_path / 'x.db'}", tmp_path, "--units", "5")
    assert result.returncode == 2
    assert "--units 5: the demo needs at least" in result.stderr
    assert not (tmp_path / "demo").exists()


def test_a_registry_that_is_not_a_demo_is_never_wiped(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    plant_with_daily_values(url, {})
    result = demo(url, tmp_path, "--units", str(UNITS), "--reset")
    assert result.returncode == 2
    assert "not a demo" in result.stderr
    with make_engine(url).connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Unit)) == 1


def _clues(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(Clue.rules, Clue.score, Clue.start_at, Clue.end_at, Unit.credit_code, Unit.name).join(
                Unit, Unit.id == Clue.unit_id
            )
        ).all()
    return [
        {"rules": rules, "score": score, "start": start, "end": end, "unit": unit, "unit_name": name}
        for rules, score, start, end, unit, name in rows
    ]


def test_the_demo_registry_reads_like_a_real_one(tmp_path: Path) -> None:
    """Outlet names fit the industry and each limit cites its standard and clause (issue 14 point 13)."""
    engine = upgraded_engine(f"sqlite:///{tmp_path / 'province.db'}")
    with Session(engine) as session:
        build(session, Fernet(Fernet.generate_key()), 60, seed=1, now=datetime(2026, 12, 7, tzinfo=UTC), kilns=8)
        session.commit()
        outlets = session.execute(select(Unit.industry_code, Outlet.code, Outlet.name).join(Outlet)).all()
        sources = set(session.scalars(select(Limit.source)))
    engine.dispose()
    names: dict[str, set[str]] = {}
    for industry, code, name in outlets:
        names.setdefault(industry, set()).add(name)
        assert code in ("DA001", "DW001")  # each medium's outlets are numbered from 001
    assert names["C3011"] == {"水泥窑窑尾排气筒"}
    assert not any("窑" in name for industry, named in names.items() if industry != "C3011" for name in named)
    assert names["D4411"] == {"1号燃煤锅炉烟囱"}
    assert "GB 13223-2011 表1" in sources
    assert all(source.startswith(("GB ", "环")) for source in sources)
    assert not any("via" in source or "screening-rules" in source or "Table" in source for source in sources)
