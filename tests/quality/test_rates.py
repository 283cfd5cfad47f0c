"""Transmission KPIs over the hours expected: stop marks and declared shut-downs are not expected,
rates per factor, 联网率 from the data, a day not over counted over its elapsed hours."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta

from rich.cells import cell_len
from rich.console import Console
from sqlalchemy import Engine, insert, update
from typer.testing import CliRunner

from offsite.cli import app
from offsite.cli.gateway import rates_table
from offsite.hj212.times import CST
from offsite.quality.marks import DataMark
from offsite.quality.rates import Rates, daily_rates, monthly_rates
from offsite.registry.models import Device, Unit
from offsite.store.models import HOUR
from offsite.store.values import ValueWriter
from tests.gateway.helpers import register

DAY = datetime(2026, 11, 28, tzinfo=CST)
NONE = {"min": None, "max": None, "cou": None, "zs_min": None, "zs_avg": None, "zs_max": None, "raw_id": None}


def _hours(engine: Engine, device: int, day: datetime, hours: range, bad: dict[str, range] | None = None) -> None:
    """Hour data (2061) of SO2 and NOx; a factor's hours in ``bad`` flagged D (analyser fault)."""
    rows = [
        {
            **NONE,
            "device_id": device,
            "factor": f,
            "period": HOUR,
            "ts": day + timedelta(hours=h),
            "avg": 1.0,
            "flag": "D" if h in (bad or {}).get(f, ()) else "N",
        }
        for h in hours
        for f in ("a21026", "a21002")
    ]
    with engine.begin() as conn:
        ValueWriter().interval(conn, rows)


def _mark(engine: Engine, kind: str, start: int, end: int, state: str = "approved", **scope: object) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(DataMark),
            [
                {
                    "outlet_id": 1,
                    "kind": kind,
                    "start_at": DAY + timedelta(hours=start),
                    "end_at": DAY + timedelta(hours=end),
                    "reason": "test",
                    "filed_by": "enterprise",
                    "filed_at": DAY,
                    "late": False,
                    "state": state,
                    **scope,
                }
            ],
        )


def _device(engine: Engine, level: str = "device", **kwargs: object) -> dict[str, tuple[int, int, int]]:
    return {
        r.code: (r.hours_expected, r.hours_received, r.hours_valid)
        for r in daily_rates(engine, DAY.date(), level, **kwargs)  # type: ignore[arg-type]
    }


def test_an_approved_stop_mark_takes_its_hours_out_of_the_expected_ones(engine: Engine) -> None:
    ids = register(engine)
    first = next(iter(ids))
    _hours(engine, ids[first], DAY, range(18))
    _mark(engine, "stopped", 18, 24)  # the kiln stopped at 18:00: nothing to send
    _mark(engine, "fault", 0, 6)  # a fault is not a stop: its hours are still expected
    _mark(engine, "shutdown", 0, 6, state="pending")  # not decided: counts only when marks take effect filed
    [city] = daily_rates(engine, DAY.date(), "city")
    assert (city.hours_expected, city.hours_received) == (3 * 18, 18)
    assert _device(engine)[first] == (18, 18, 18)
    rates = {r.code: r for r in daily_rates(engine, DAY.date(), "device")}
    assert rates[first].transmission == 1.0
    assert _device(engine, takes_effect="filed")[first] == (12, 12, 12)


def test_a_stop_mark_on_one_device_or_factor_leaves_the_others_expected(engine: Engine) -> None:
    ids = register(engine)
    first, second = list(ids.values())[:2]
    with engine.begin() as conn:
        conn.execute(update(Device).where(Device.id == first).values(factors="a21026,a21002"))
    _hours(engine, first, DAY, range(24), bad={"a21002": range(4)})
    _mark(engine, "stopped", 0, 24, device_id=second)
    _mark(engine, "stopped", 20, 24, device_id=first, factor="a21002")
    by_device = dict(_device(engine).items())
    assert sorted(by_device.values()) == [(0, 0, 0), (24, 0, 0), (24, 24, 20)]
    by_factor = _device(engine, "factor")
    assert by_factor["a21026"] == (24, 24, 24)
    assert by_factor["a21002"] == (20, 20, 16)  # its own stop from 20:00; flagged D 0–3
    [so2] = [r for r in daily_rates(engine, DAY.date(), "factor") if r.code == "a21026"]
    assert (so2.name, so2.devices, so2.effective) == ("二氧化硫", 1, 1.0)


def test_a_unit_declared_stopped_expects_nothing(engine: Engine) -> None:
    register(engine)
    with engine.begin() as conn:
        conn.execute(update(Unit).values(status="stopped"))
    [city] = daily_rates(engine, DAY.date(), "city")
    assert (city.devices, city.expected_devices, city.hours_expected) == (3, 0, 0)
    assert (city.networking, city.transmission, city.effective) == (None, None, None)


def test_a_device_that_sent_the_days_data_was_online_without_a_status_change(engine: Engine) -> None:
    ids = list(register(engine).values())
    _hours(engine, ids[0], DAY, range(24))  # backfilled: data, no device_status_change
    [city] = daily_rates(engine, DAY.date(), "city")
    assert (city.online, city.expected_devices) == (1, 3)
    assert city.networking == 1 / 3
    [city] = daily_rates(engine, DAY.date(), "city", online=lambda start, end: {ids[1]})
    assert city.online == 2


def test_a_day_not_over_expects_only_its_elapsed_hours(engine: Engine) -> None:
    ids = list(register(engine).values())
    _hours(engine, ids[0], DAY, range(6))
    [city] = daily_rates(engine, DAY.date(), "city", now=DAY + timedelta(hours=6, minutes=30))
    assert (city.hours_expected, city.hours_received) == (3 * 6, 6)
    [month] = monthly_rates(engine, DAY.date(), "city", now=DAY + timedelta(hours=6, minutes=30))
    assert (month.days, month.devices, month.hours_expected) == (28, 3 * 28, 3 * (27 * 24 + 6))


def test_devices_status_defaults_to_the_last_full_day_and_labels_its_units(engine: Engine) -> None:
    ids = list(register(engine).values())
    today = datetime.now(CST).replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)
    _hours(engine, ids[0], yesterday, range(24))
    url = engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    [row] = json.loads(runner.invoke(app, ["devices", "status", "--json", "--database-url", url]).stdout)
    assert (row["hours_expected"], row["hours_received"], row["online"]) == (72, 24, 1)
    assert (row["transmission_rate"], row["networking_rate"], row["device_unit"]) == (
        round(1 / 3, 4),
        0.3333,
        "devices",
    )
    result = runner.invoke(app, ["devices", "status", "--today", "--format", "json", "--database-url", url])
    [row] = json.loads(result.stdout)
    elapsed = int((datetime.now(CST) - today) / timedelta(hours=1))
    assert row["hours_expected"] == 3 * elapsed
    result = runner.invoke(app, ["devices", "status", "--month", "--database-url", url], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "台·日" in result.stdout
    assert "北京时间" in result.stdout
    result = runner.invoke(app, ["devices", "status", "--by", "factor", "--csv", "--database-url", url])
    header, *lines = result.stdout.splitlines()
    assert header.startswith("region,name,devices")
    assert {line.split(",")[0] for line in lines} == {"a21026", "a21002"}
    table = runner.invoke(app, ["devices", "status", "--database-url", url], env={"COLUMNS": "200"}).stdout
    assert "全天" in table
    assert "33.3" in table
    assert "传输率" in table


def _rendered(rows: list[Rates], by: str, *, wide: bool = False) -> list[str]:
    console = Console(width=80, record=True, file=io.StringIO())
    console.print(rates_table(rows, by, "2026-11-28 全天（北京时间 UTC+8）", month=False, wide=wide))
    return console.export_text().splitlines()


def test_the_rates_table_fits_80_columns_with_no_figure_split() -> None:
    long_name = "合肥市某某某某热电联产有限责任公司（演示）"
    units = [Rates("91340100000000000D", long_name, 12, 12, 11, 288, 276, 270)]
    lines = _rendered(units, "unit")
    assert all(cell_len(line) <= 80 for line in lines)
    header = next(line for line in lines if "联网率" in line)
    for word in ("联网率", "传输率", "有效率", "有效传输率"):
        assert word in header  # no header cut to 有效传… or wrapped
    [row] = [line for line in lines if line.startswith("合肥")]
    # every figure of the row on the row's first line, whole: 11 of 12 online, 276/288, 270/276, 270/288
    assert row.split()[-7:] == ["12", "12", "11", "91.7", "95.8", "97.8", "93.8"]
    assert "%" in "".join(lines)  # the unit is said once, in the caption
    assert "91340100000000000D" not in "".join(lines)  # the credit code is in --json, not squeezed in
    devices = [Rates("34000000000131", "合肥天成热电有限公司（演示） 34000000000131", 1, 1, 1, 24, 24, 24)]
    text = "".join(_rendered(devices, "device"))
    assert text.count("34000000000131") == 1  # the MN said once, not as 名称 and 代码


def test_devices_status_rows_say_what_period_they_cover(engine: Engine) -> None:
    register(engine)
    url = engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    [row] = json.loads(
        runner.invoke(app, ["devices", "status", "--on", "2026-11-28", "--json", "--database-url", url]).stdout
    )
    assert row["day"] == "2026-11-28"
    [row] = json.loads(
        runner.invoke(
            app, ["devices", "status", "--on", "2026-11-28", "--month", "--json", "--database-url", url]
        ).stdout
    )
    assert row["month"] == "2026-11"
    today = runner.invoke(app, ["devices", "status", "--today", "--csv", "--database-url", url]).stdout
    header, line = today.splitlines()
    record = dict(zip(header.split(","), line.split(","), strict=True))
    now = datetime.now(CST)
    assert record["day"] == now.date().isoformat()
    assert int(record["today_hours_elapsed"]) in (now.hour, now.hour + 1)
