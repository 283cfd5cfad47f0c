"""``offsite alarms list`` and the officer's steps on a real database file."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from offsite.alarms.models import Alarm, AlarmEvent, Recomputation
from offsite.cli import app
from offsite.db import session_factory
from offsite.db.schema import upgraded_engine
from offsite.hj212.times import CST
from offsite.registry.models import Contact, Device, Limit, Outlet, Unit
from offsite.registry.regions import load_anhui
from offsite.store.models import DAY
from offsite.store.values import ValueWriter

runner = CliRunner()
AT = datetime(2026, 11, 20, tzinfo=UTC)


def _database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    with session_factory(upgraded_engine(url))() as session:
        load_anhui(session)
        for n, (name, county) in enumerate([("甲厂", "340104"), ("乙厂", "340202"), ("丙厂", "340102")], 1):
            session.add(
                Unit(id=n, credit_code=f"9134010000000000{n:02d}", name=name, industry_code="C2614", region_code=county)
            )
        session.flush()
        for unit, level, days, state in [
            (1, "yellow", 4, "open"),
            (2, "red", 11, "acknowledged"),
            (3, "blue", 1, "closed"),
        ]:
            session.add(
                Alarm(
                    unit_id=unit,
                    kind="exceedance",
                    level=level,
                    days=days,
                    day=date(2026, 11, 19),
                    state=state,
                    opened_at=AT,
                    updated_at=AT,
                )
            )
        session.commit()
    return url


def test_list_shows_open_alarms_most_severe_first(tmp_path: Path) -> None:
    url = _database(tmp_path)
    result = runner.invoke(app, ["alarms", "list", "--json", "--database-url", url])
    rows = json.loads(result.stdout)
    assert [(r["unit_name"], r["level"], r["days"], r["state"]) for r in rows] == [
        ("乙厂", "red", 11, "acknowledged"),
        ("甲厂", "yellow", 4, "open"),
    ]
    assert rows[0]["region"] == "镜湖区"
    assert set(rows[0]) >= {"id", "unit", "unit_name", "region", "level", "days", "opened_at", "state"}
    assert rows[0]["opened_at"] == "2026-11-20T08:00:00+08:00"  # stored 00:00 UTC, handed over in China time
    everything = runner.invoke(app, ["alarms", "list", "--all", "--json", "--database-url", url])
    assert len(json.loads(everything.stdout)) == 3


def test_list_prints_china_time_and_says_so(tmp_path: Path) -> None:
    url = _database(tmp_path)
    table = runner.invoke(app, ["alarms", "list", "--database-url", url], env={"COLUMNS": "160"}).stdout
    assert "2026-11-20 08:00 +08:00" in table
    assert "北京时间" in table
    assert "红" in table
    assert "乙厂" in table
    csv = runner.invoke(app, ["alarms", "list", "--csv", "--database-url", url]).stdout.splitlines()
    assert csv[0].startswith("id,unit,unit_name,region,level,days,opened_at")
    assert len(csv) == 3
    assert ",2026-11-20T08:00:00+08:00," in csv[1]


def test_officer_steps_and_a_refused_step(tmp_path: Path) -> None:
    url = _database(tmp_path)
    steps = [
        ["ack", "1", "--by", "张三", "--comment", "已联系"],
        ["verify", "1", "--verdict", "real_exceedance", "--by", "张三"],
        ["close", "1", "--by", "李四"],
    ]
    outputs = [runner.invoke(app, ["alarms", *step, "--database-url", url]).stdout.strip() for step in steps]
    assert outputs == ["alarm 1: acknowledged", "alarm 1: verified", "alarm 1: closed"]
    refused = runner.invoke(app, ["alarms", "ack", "1", "--by", "张三", "--database-url", url])
    assert refused.exit_code == 2
    assert "alarm 1 is closed: cannot acknowledge" in refused.stderr


def plant_with_daily_values(url: str, so2: dict[date, tuple[float | None, str]]) -> None:
    """One unit, one stack with an SO2 daily limit of 100 (corrected), and stored daily values."""
    engine = upgraded_engine(url)
    with session_factory(engine)() as session:
        load_anhui(session)
        session.add(
            Unit(id=1, credit_code="913401000000000001", name="甲厂", industry_code="D4411", region_code="340104")
        )
        session.flush()
        session.add(Outlet(id=1, unit_id=1, code="DA001", name="1号烟囱", medium="gas", o2_ref=6.0))
        session.flush()
        session.add(Device(id=1, outlet_id=1, mn="MN0001", password_enc=b"-", networked_on=date(2026, 1, 1)))
        session.add(
            Limit(
                outlet_id=1,
                factor="a21026",
                standard="GB13223-2011",
                value=100.0,
                basis="corrected",
                period="day",
                valid_from=date(2026, 1, 1),
                source="test",
            )
        )
        session.add(
            Contact(
                name="蜀山区执法员", role="county_officer", phone="13900000104", channel="sms", region_code="340104"
            )
        )
        session.commit()
    rows = [
        {
            "device_id": 1,
            "period": DAY,
            "factor": "a21026",
            "ts": datetime.combine(d, time(), CST).astimezone(UTC),
            "avg": 80.0,
            "zs_avg": zs,
            "flag": flag,
            "raw_id": None,
        }
        for d, (zs, flag) in so2.items()
    ]
    with engine.begin() as conn:
        ValueWriter().interval(conn, rows)


def test_grade_reads_stored_daily_values_opens_an_alarm_and_queues_its_messages(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    # Corrected SO2 above 100 on the 2nd, 3rd and 5th; the 4th is above but flagged D (invalid);
    # the 6th is below. Three exceedance days in the window: yellow on the 5th.
    days = {1: (90.0, "N"), 2: (130.0, "N"), 3: (101.0, "T"), 4: (150.0, "D"), 5: (120.0, "N"), 6: (70.0, "N")}
    plant_with_daily_values(url, {date(2026, 11, d): value for d, value in days.items()})
    result = runner.invoke(
        app, ["alarms", "grade", "--from", "2026-11-01", "--day", "2026-11-06", "--database-url", url]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        "2026-11-01..2026-11-06 (manual): 6 daily values, 1 units alarmed on 2026-11-06; "
        "opened 1, raised 1, lowered 0, cleared 0; 1 messages queued; 0 hourly exceedances kept"
    )
    [row] = json.loads(runner.invoke(app, ["alarms", "list", "--json", "--database-url", url]).stdout)
    assert (row["level"], row["days"], row["region"]) == ("yellow", 3, "蜀山区")
    again = runner.invoke(
        app, ["alarms", "grade", "--from", "2026-11-01", "--day", "2026-11-06", "--database-url", url]
    )
    assert "opened 0, raised 0, lowered 0, cleared 0; 0 messages queued;" in again.stdout
    with session_factory(upgraded_engine(url))() as session:
        runs = session.scalars(select(Recomputation).order_by(Recomputation.id)).all()
    assert [(r.trigger, r.first_day, r.last_day, r.level_changes, r.messages) for r in runs] == [
        ("manual", date(2026, 11, 1), date(2026, 11, 6), 2, 1),  # two steps, one message: the level it ends on
        ("manual", date(2026, 11, 1), date(2026, 11, 6), 0, 0),
    ]
    bad = runner.invoke(app, ["alarms", "grade", "--day", "yesterday", "--database-url", url])
    assert bad.exit_code == 2


def test_stats_count_alarms_by_highest_level_and_units_per_city_and_province(tmp_path: Path) -> None:
    url = _database(tmp_path)  # alarms 1–3 have no steps: they are not counted
    late_2025 = datetime(2025, 12, 31, 17, tzinfo=UTC)  # 2026-01-01 01:00 China time
    with session_factory(upgraded_engine(url))() as session:
        for unit, opened, steps in [
            (1, AT, ["blue", "red"]),  # 甲厂 (合肥), raised to red
            (1, AT, ["yellow"]),
            (2, AT, ["orange"]),  # 乙厂 (芜湖)
            (2, datetime(2025, 6, 1, tzinfo=UTC), ["blue"]),  # another year
            (3, late_2025, ["blue"]),  # 丙厂 (合肥): 2026 in China time
        ]:
            alarm = Alarm(
                unit_id=unit,
                kind="exceedance",
                level=steps[-1],
                days=1,
                day=date(2026, 1, 1),
                state="open",
                opened_at=opened,
                updated_at=opened,
            )
            session.add(alarm)
            session.flush()
            for n, level in enumerate(steps):
                session.add(
                    AlarmEvent(
                        alarm_id=alarm.id,
                        at=opened,
                        actor="grading",
                        action="opened" if n == 0 else "raised",
                        level=level,
                        days=1,
                    )
                )
        session.commit()
    result = runner.invoke(app, ["stats", "--year", "2026", "--json", "--database-url", url])
    rows = {r["region"]: r for r in json.loads(result.stdout)}
    counts = {
        name: (r["blue"], r["yellow"], r["orange"], r["red"], r["alarms"], r["units"]) for name, r in rows.items()
    }
    assert counts == {
        "合肥市": (1, 1, 0, 1, 3, 2),
        "芜湖市": (0, 0, 1, 0, 1, 1),
        "安徽省": (1, 1, 1, 1, 4, 3),
    }
    monthly = runner.invoke(app, ["stats", "--year", "2026", "--by-month", "--json", "--database-url", url])
    months = {(r["region"], r["month"]): r["alarms"] for r in json.loads(monthly.stdout)}
    assert months[("合肥市", 1)] == 1
    assert months[("合肥市", 11)] == 2
    table = runner.invoke(app, ["stats", "--year", "2026", "--database-url", url], env={"COLUMNS": "80"}).stdout
    assert "合肥市" in table
    header = next(line for line in table.splitlines() if "地区" in line)
    assert all(level in header for level in ("蓝", "黄", "橙", "红", "合计", "单位数"))  # none hidden at 80 columns
    [hefei] = [line for line in table.splitlines() if "合肥市" in line]
    assert [cell.strip() for cell in hefei.split("│")[3:7]] == ["1", "1", "0", "1"]
    per_month = runner.invoke(
        app, ["stats", "--year", "2026", "--by-month", "--database-url", url], env={"COLUMNS": "80"}
    )
    assert "月" in per_month.stdout
    assert "…" not in per_month.stdout


def test_list_shows_the_worst_exceedance_with_its_outlet_unit_and_multiple(tmp_path: Path) -> None:
    url = _database(tmp_path)
    with session_factory(upgraded_engine(url))() as session:
        session.add(Outlet(id=1, unit_id=2, code="DA001", name="1号燃煤锅炉烟囱", medium="gas"))
        session.flush()
        red = session.scalars(select(Alarm).where(Alarm.unit_id == 2)).one()
        red.outlet_id, red.factor, red.value, red.limit = 1, "a21026", 150.0, 100.0
        red_unit = session.get(Unit, 2)
        assert red_unit is not None
        red_unit.name = "[link=http://evil.example]乙厂[/link]\x1b[2J"  # markup and an escape code in a name
        session.commit()
    [red_row, yellow_row] = json.loads(runner.invoke(app, ["alarms", "list", "--json", "--database-url", url]).stdout)
    assert (red_row["outlet"], red_row["unit_of_measure"], red_row["multiple"]) == ("DA001", "mg/m³", 0.5)
    assert yellow_row["multiple"] is None  # no figures behind it: nothing invented
    table = runner.invoke(app, ["alarms", "list", "--database-url", url], env={"COLUMNS": "200"}).stdout
    assert "0.50 倍" in table
    assert "150 / 100 mg/m³" in table
    assert "1号燃煤锅炉烟囱（DA001）" in table
    assert "[link=http://evil.example]" in table  # shown as the text it is, never a live link
    assert "\x1b[2J" not in table
