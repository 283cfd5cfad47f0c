"""The simulator's fleet against the gateway: history arrives as hour and minute values."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import Engine, func, insert, select

from offsite.registry.models import Device, Outlet
from offsite.registry.passwords import encrypt
from offsite.sim.fleet import Fleet, specs_from_registry
from offsite.store.models import HOUR, MINUTE, IntervalValue, RealtimeValue
from tests.gateway.helpers import KEY, register, run, running, settings_for


def test_a_fleet_sends_its_history_and_goes_live(engine: Engine, database_url: str, tmp_path: Path) -> None:
    register(engine)
    with engine.begin() as conn:  # add a wastewater outfall and its logger
        conn.execute(insert(Outlet), [{"id": 2, "unit_id": 1, "code": "DW001", "name": "总排口", "medium": "water"}])
        conn.execute(
            insert(Device),
            [
                {
                    "id": 9,
                    "outlet_id": 2,
                    "mn": "34130000000000000000DW01",
                    "password_enc": encrypt(Fernet(KEY), "water1"),
                    "protocol_version": "2017",
                    "crc_variants": "hj212",
                    "factors": "",
                    "active": True,
                    "installed_on": date(2025, 1, 1),
                }
            ],
        )
    specs = specs_from_registry(engine, Fernet(KEY))
    assert {s.medium for s in specs} == {"gas", "water"}

    async def scenario() -> None:
        async with running(settings_for(database_url, tmp_path), engine) as (_, port):
            fleet = Fleet(specs, "127.0.0.1", port, ack_timeout=5)
            stats = await fleet.run(history_hours=3, minute_hours=1, live_seconds=0.3, realtime_every=0.1)
            assert stats.failed_devices == []
            assert stats.unanswered == 0
            assert stats.acked == stats.sent

    run(scenario)
    with engine.connect() as conn:
        per = dict(conn.execute(select(IntervalValue.period, func.count()).group_by(IntervalValue.period)).all())
        realtime = conn.scalar(select(func.count()).select_from(RealtimeValue))
    factors = sum(8 if spec.medium == "gas" else 6 for spec in specs)  # 8 flue-gas, 6 wastewater factors
    assert per[HOUR] == 3 * factors
    assert per[MINUTE] == 60 * factors
    assert realtime is not None
    assert realtime >= factors  # at least one real-time packet per device


def test_planted_scenarios_arrive_where_their_labels_say(engine: Engine, database_url: str, tmp_path: Path) -> None:
    from dataclasses import replace
    from datetime import timedelta

    from offsite.hj212.times import CST
    from offsite.sim import scenarios as sc

    register(engine)
    spec = next(s for s in specs_from_registry(engine, Fernet(KEY)) if s.mn.endswith("DA01"))

    def plant(series: sc.Series) -> None:  # the last hour is sent as minute data: plant there
        last_hour = len(series.missing) - 60
        sc.zero(series, "a21026", last_hour + 10, 5)
        sc.gap(series, last_hour + 30, 4)
        sc.flagged(series, "a21002", last_hour + 40, 10, "M")

    async def scenario() -> list[sc.Series]:
        async with running(settings_for(database_url, tmp_path), engine) as (_, port):
            fleet = Fleet([replace(spec, plant=plant)], "127.0.0.1", port, ack_timeout=5)
            await fleet.run(history_hours=2, minute_hours=1)
            return fleet.series

    (planted,) = run(scenario)
    labels = {label.scenario: label for label in planted.labels}
    with engine.connect() as conn:
        so2 = dict(
            conn.execute(
                select(IntervalValue.ts, IntervalValue.avg).where(
                    IntervalValue.period == MINUTE, IntervalValue.factor == "a21026"
                )
            ).all()
        )
        nox_flags = dict(
            conn.execute(
                select(IntervalValue.ts, IntervalValue.flag).where(
                    IntervalValue.period == MINUTE, IntervalValue.factor == "a21002"
                )
            ).all()
        )
    zero = labels["zero"]
    assert [so2[zero.start + timedelta(minutes=i)] for i in range(5)] == [0.0] * 5
    gap = labels["gap"]
    assert all(gap.start + timedelta(minutes=i) not in so2 for i in range(4))
    assert gap.start - timedelta(minutes=1) in so2
    maintenance = labels["maintenance"]
    assert {nox_flags[maintenance.start + timedelta(minutes=i)] for i in range(10)} == {"M"}
    assert zero.start.astimezone(CST).tzinfo is not None
    assert len(so2) == 60 - 4


def test_whole_days_of_history_are_sent_as_day_packets(engine: Engine, database_url: str, tmp_path: Path) -> None:
    from offsite.hj212.times import CST
    from offsite.store.models import DAY

    register(engine)
    spec = specs_from_registry(engine, Fernet(KEY))[0]

    async def scenario() -> None:
        async with running(settings_for(database_url, tmp_path), engine) as (_, port):
            await Fleet([spec], "127.0.0.1", port, ack_timeout=5).run(history_hours=48, minute_hours=0)

    run(scenario)
    with engine.connect() as conn:
        days = conn.execute(
            select(IntervalValue.ts).where(IntervalValue.period == DAY, IntervalValue.factor == "a21026")
        ).all()
    assert 1 <= len(days) <= 2  # every 48 hours hold one or two whole China-time days
    assert all((ts.astimezone(CST).hour, ts.astimezone(CST).minute) == (0, 0) for (ts,) in days)


def test_a_window_of_uploads_in_flight_sends_minute_spans_in_order_and_says_when_filled(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    from dataclasses import replace
    from datetime import UTC, datetime, timedelta

    register(engine)
    spec = replace(specs_from_registry(engine, Fernet(KEY))[0], minute_spans=((30, 45),))
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = now - timedelta(hours=6)
    filled: list[int] = []

    async def scenario() -> None:
        async with running(settings_for(database_url, tmp_path), engine) as (_, port):
            fleet = Fleet([spec], "127.0.0.1", port, ack_timeout=5, window=8)
            stats = await fleet.run(
                history_hours=0,
                minute_hours=1,
                now=now,
                start=start,
                on_filled=lambda: filled.append(fleet.stats.acked),
            )
            assert stats.unanswered == 0

    run(scenario)
    with engine.connect() as conn:
        minutes = sorted(
            ts
            for (ts,) in conn.execute(
                select(IntervalValue.ts).where(IntervalValue.period == MINUTE, IntervalValue.factor == "a21026")
            )
        )
        hours = conn.scalar(select(func.count()).where(IntervalValue.period == HOUR, IntervalValue.factor == "a21026"))
    span = [start + timedelta(minutes=30 + i) for i in range(45)]
    last_hour = [now - timedelta(minutes=60 - i) for i in range(60)]
    assert minutes == span + last_hour  # the planted span with its context, then the last hour
    assert hours == 6
    assert filled == [6 + 45 + 60]  # said once, after every history upload was acknowledged
