"""``offsite emissions`` for people (zh-CN headers, kg or t rounded, ``-`` for none, what a total
covers) and for machines (--format json|csv, unrounded kg, the coverage in columns)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine
from typer.testing import CliRunner

from offsite.cli import app
from offsite.db import session_factory
from offsite.hj212.times import CST
from offsite.registry.models import Device, Outlet, Unit
from offsite.registry.regions import load_anhui
from offsite.store.models import HOUR
from offsite.store.values import ValueWriter
from tests.quality.test_totals import CREDIT, day_load

runner = CliRunner()


def test_a_month_total_says_what_it_covers_and_reads_rounded(database_url: str, engine: Engine) -> None:
    with session_factory(engine)() as session:
        load_anhui(session)
        session.add(Unit(id=1, credit_code=CREDIT, name="甲厂", industry_code="D4411", region_code="340104"))
        session.flush()
        session.add(Outlet(id=1, unit_id=1, code="DA001", name="1号烟囱", medium="gas"))
        session.flush()
        session.add(Device(id=1, outlet_id=1, mn="MN1", password_enc=b"-"))
        session.commit()
    loads = [day_load(1, "a21026", date(2026, 11, d), 1234.56789012) for d in (1, 2, 3)]
    loads += [{**day_load(1, "a21002", date(2026, 11, 1), 0.123456789), "n_valid": 20}]
    with engine.begin() as conn:
        ValueWriter().computed(conn, loads)
    result = runner.invoke(app, ["emissions", "--month", "2026-11", "--json", "--database-url", database_url])
    got = {r["factor"]: r for r in json.loads(result.stdout)}
    so2, nox = got["a21026"], got["a21002"]
    assert (so2["days_with_data"], so2["hours_with_data"], so2["days_in_month"], so2["hours_in_month"]) == (
        3,
        72,
        30,
        720,
    )
    assert so2["month_kg"] == 3 * 1234.56789012  # machines get the figure unrounded
    assert (nox["days_with_data"], nox["hours_with_data"]) == (1, 20)
    table = runner.invoke(
        app, ["emissions", "--month", "2026-11", "--database-url", database_url], env={"COLUMNS": "200"}
    ).stdout
    assert "3.70 t" in table  # 3,703.7 kg, three significant figures, in tonnes
    assert "0.123 kg" in table
    assert "3/30 天（72 小时）" in table
    assert "1/30 天（20 小时）" in table
    assert "二氧化硫" in table
    assert "null" not in table
    assert "1234.56" not in table
    csv = runner.invoke(app, ["emissions", "--month", "2026-11", "--format", "csv", "--database-url", database_url])
    header = csv.stdout.splitlines()[0].split(",")
    assert {"month_kg", "days_with_data", "hours_in_month", "outlet_code"} <= set(header)


def test_nothing_over_a_cap_is_said_in_chinese_and_the_table_counts_stopped_hours(
    database_url: str, engine: Engine
) -> None:
    with session_factory(engine)() as session:
        load_anhui(session)
        session.add(Unit(id=1, credit_code=CREDIT, name="甲厂", industry_code="D4411", region_code="340104"))
        session.flush()
        session.add(Outlet(id=1, unit_id=1, code="DA001", name="1号烟囱", medium="gas"))
        session.flush()
        session.add(Device(id=1, outlet_id=1, mn="MN1", password_enc=b"-"))
        session.commit()
    with engine.begin() as conn:
        hour = {**day_load(1, "a21026", date(2026, 11, 1), 10.0), "period": HOUR, "n_valid": 60}
        first = datetime(2026, 11, 1, tzinfo=CST).astimezone(UTC)
        ValueWriter().computed(conn, [{**hour, "ts": first + timedelta(hours=h)} for h in range(24)])
    over = runner.invoke(app, ["emissions", "--month", "2026-11", "--over", "--database-url", database_url])
    assert over.exit_code == 0, over.output
    assert "没有超出许可排放量的总量" in over.stdout
    assert "no totals" not in over.stdout
    assert "┏" not in over.stdout  # no empty table
    with session_factory(engine)() as session:
        session.query(Unit).update({"status": "stopped"})
        session.commit()
    table = runner.invoke(
        app, ["emissions", "--month", "2026-11", "--database-url", database_url], env={"COLUMNS": "200"}
    ).stdout
    assert "停运 696 小时" in table  # November's hours but the day's 24, stopped, not missing
