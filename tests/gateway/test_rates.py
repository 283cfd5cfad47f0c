from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import Engine, insert
from typer.testing import CliRunner

from offsite.cli import app
from offsite.gateway.models import DeviceStatusChange
from offsite.gateway.rates import online_by_status
from offsite.hj212.times import CST
from offsite.quality.incremental import aggregate_pending
from offsite.quality.rates import daily_rates, monthly_rates
from offsite.store.models import HOUR, MINUTE
from offsite.store.values import ValueWriter
from tests.gateway.helpers import register


def test_networking_and_transmission_rates_of_a_day(engine: Engine) -> None:
    ids = list(register(engine).values())  # three devices in 埇桥区, 宿州市
    day = datetime(2026, 11, 28, tzinfo=CST)
    with engine.begin() as conn:
        conn.execute(
            insert(DeviceStatusChange),
            [
                {"device_id": ids[0], "at": day - timedelta(days=2), "status": "online"},  # online since before the day
                {"device_id": ids[1], "at": day - timedelta(days=2), "status": "online"},
                {"device_id": ids[1], "at": day - timedelta(hours=1), "status": "offline"},  # offline all day
                {"device_id": ids[2], "at": day + timedelta(hours=20), "status": "online"},  # came online late
            ],
        )
        rows = [
            # Hours 0–3: NOx flagged D (analyser fault), so those four hours are received but not valid.
            {
                "device_id": ids[0],
                "factor": f,
                "period": HOUR,
                "ts": day + timedelta(hours=h),
                "avg": 1.0,
                "flag": "D" if f == "a21002" and h < 4 else "N",
            }
            for h in range(18)
            for f in ("a21026", "a21002")
        ] + [{"device_id": ids[2], "factor": "a21026", "period": MINUTE, "ts": day, "avg": 1.0, "flag": "N"}]
        ValueWriter().interval(
            conn,
            [
                {
                    **r,
                    "min": None,
                    "max": None,
                    "cou": None,
                    "zs_min": None,
                    "zs_avg": None,
                    "zs_max": None,
                    "raw_id": None,
                }
                for r in rows
            ],
        )
    online = online_by_status(engine)
    (city,) = daily_rates(engine, day.date(), "city", online=online)
    assert (city.region_name, city.devices, city.online, city.hours_received) == ("宿州市", 3, 2, 18)
    assert city.networking == 2 / 3
    assert city.transmission == 18 / 72
    assert city.hours_valid == 14
    assert city.validity == 14 / 18
    assert city.effective == 14 / 72  # 有效传输率 = 传输率 × 有效率
    url = engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(app, ["devices", "status", "--on", "2026-11-28", "--json", "--database-url", url])
    [row] = json.loads(result.stdout)
    assert (row["name"], row["transmission_rate"], row["valid_rate"], row["effective_transmission_rate"]) == (
        "宿州市",
        0.25,
        round(14 / 18, 4),
        round(14 / 72, 4),
    )
    by_device = {r.region_code: r for r in daily_rates(engine, day.date(), "device")}
    assert len(by_device) == 3
    assert [(r.hours_received, r.hours_valid) for r in by_device.values() if r.hours_received] == [(18, 14)]
    [unit] = daily_rates(engine, day.date(), "unit", online=online)
    assert (unit.devices, unit.hours_valid) == (3, 14)
    # November, summed: 3 devices × 30 days. Online device-days: the first device from the 26th to
    # the 30th (5), the second on the 26th and 27th (2), the third from the 28th (3).
    [november] = monthly_rates(engine, day.date(), "city", online=online)
    assert (november.devices, november.online, november.hours_received, november.hours_valid) == (90, 10, 18, 14)
    assert november.days == 30
    assert round(november.effective or 0, 6) == round(14 / (90 * 24), 6)
    (county,) = daily_rates(engine, day.date(), "county")
    assert county.region_code == "341302"


def test_hours_aggregated_from_minutes_count_by_the_platforms_own_validity(engine: Engine) -> None:
    ids = list(register(engine).values())
    day = datetime(2026, 11, 28, tzinfo=CST)
    rows = [  # device 3 sends minutes only: hour 0 has 50 N minutes (valid), hour 1 only 40 (not valid)
        {
            "device_id": ids[2],
            "factor": "a21026",
            "period": MINUTE,
            "ts": day + timedelta(minutes=m),
            "avg": 1.0,
            "flag": "N" if m < 50 or 60 <= m < 100 else "C",
        }
        for m in range(120)
    ]
    with engine.begin() as conn:
        ValueWriter().interval(conn, rows)
    aggregate_pending(engine, now=day + timedelta(hours=3))
    device = {r.region_code: r for r in daily_rates(engine, day.date(), "device")}
    received = [(r.hours_received, r.hours_valid) for r in device.values() if r.hours_received]
    assert received == [(2, 1)]  # two hours received as minutes; only hour 0 reaches 45 valid minutes
