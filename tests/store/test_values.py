"""Values: projected from decoded packets, upserted, read back as Polars frames through Arrow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
from sqlalchemy import Engine, func, select, text

from offsite.hj212 import decode, encode
from offsite.hj212.times import CST
from offsite.hj212.uploads import upload
from offsite.store.models import HOUR, MINUTE, IntervalValue, RealtimeValue
from offsite.store.partitions import existing
from offsite.store.series import read_interval
from offsite.store.values import ValueWriter, interval_rows, realtime_rows


def minute(device_minute: datetime, so2: float, flag: str = "N", cn: str = "2051") -> bytes:
    return encode(
        upload(
            cn=cn,
            mn="M1",
            pw="p",
            st="31",
            qn=None,
            data_time=device_minute,
            factors={
                "a21026": {"Min": so2 - 1, "Avg": so2, "Max": so2 + 1, "Cou": 0.5, "Flag": flag},
                "a19001": {"Avg": 9.5, "Flag": "N"},
            },
        )
    )


def test_a_resent_packet_updates_instead_of_duplicating(engine: Engine) -> None:
    t = datetime(2026, 11, 29, 10, 5, tzinfo=CST)
    writer = ValueWriter()
    with engine.begin() as conn:
        writer.interval(conn, interval_rows(7, decode(minute(t, 30.0)), raw_id=1))
    with engine.begin() as conn:  # the same data again: the row keeps its first packet
        writer.interval(conn, interval_rows(7, decode(minute(t, 30.0)), raw_id=5))
    with engine.connect() as conn:
        assert conn.scalar(select(IntervalValue.raw_id).where(IntervalValue.factor == "a21026")) == 1
    with engine.begin() as conn:
        writer.interval(conn, interval_rows(7, decode(minute(t, 31.5, flag="C")), raw_id=2))
    with engine.connect() as conn:
        rows = conn.execute(select(*IntervalValue.__table__.c).where(IntervalValue.factor == "a21026")).all()
        assert conn.scalar(select(func.count()).select_from(IntervalValue)) == 2
    (value,) = rows
    assert (value.avg, value.min, value.flag, value.raw_id, value.period) == (31.5, 30.5, "C", 2, MINUTE)
    assert value.ts == t.astimezone(UTC)


def test_projection_keeps_every_column_and_null_for_what_was_not_sent() -> None:
    t = datetime(2026, 11, 29, 10, tzinfo=CST)
    rows = {r["factor"]: r for r in interval_rows(3, decode(minute(t, 40.0, cn="2061")), raw_id=9)}
    assert rows["a21026"]["period"] == HOUR
    assert rows["a21026"]["cou"] == 0.5
    assert rows["a19001"]["min"] is None
    assert rows["a19001"]["avg"] == 9.5
    assert interval_rows(3, decode(minute(t, 40.0, cn="2011")), raw_id=9) == []


def test_realtime_values(engine: Engine) -> None:
    t = datetime(2026, 11, 29, 10, 0, 30, tzinfo=CST)
    packet = encode(
        upload(
            cn="2011",
            mn="M1",
            pw="p",
            st="31",
            qn=None,
            data_time=t,
            factors={"a21026": {"Rtd": 33.3, "Flag": "N", "EFlag": "A01"}},
        )
    )
    with engine.begin() as conn:
        ValueWriter().realtime(conn, realtime_rows(5, decode(packet), raw_id=4))
    with engine.connect() as conn:
        (value,) = conn.execute(select(RealtimeValue.rtd, RealtimeValue.eflag, RealtimeValue.ts)).all()
    assert value.rtd == 33.3
    assert value.eflag == "A01"
    assert value.ts == t


def test_read_interval_returns_the_window_sorted_with_utc_times(engine: Engine) -> None:
    start = datetime(2026, 11, 1, tzinfo=CST)
    writer = ValueWriter()
    rows = []
    for device in (1, 2):
        for m in range(120):
            for factor, value in (("a21026", 30.0 + m), ("a21002", 60.0 + m)):
                rows.append(
                    {
                        "device_id": device,
                        "factor": factor,
                        "period": MINUTE,
                        "ts": start + timedelta(minutes=m),
                        "min": None,
                        "avg": value,
                        "max": None,
                        "cou": None,
                        "zs_min": None,
                        "zs_avg": None,
                        "zs_max": None,
                        "flag": "N",
                        "raw_id": None,
                    }
                )
    with engine.begin() as conn:
        writer.interval(conn, rows)
    frame = read_interval(engine, [2], start + timedelta(minutes=10), start + timedelta(minutes=70), factors=["a21026"])
    assert frame.height == 60
    assert frame.schema["ts"] == pl.Datetime("us", "UTC")
    assert frame["ts"][0] == (start + timedelta(minutes=10)).astimezone(UTC)
    assert frame["ts"].is_sorted()
    assert frame["avg"].to_list() == [30.0 + m for m in range(10, 70)]
    assert set(frame["device_id"]) == {2}
    both = read_interval(engine, [1, 2], start, start + timedelta(hours=3))
    assert both.height == 480
    assert read_interval(engine, [3], start, start + timedelta(hours=3)).is_empty()


def test_backfilled_months_get_their_partition_on_postgresql(postgres_engine: Engine) -> None:
    engine = postgres_engine
    old = datetime(2025, 3, 31, 23, 30, tzinfo=CST)  # 15:30 UTC: March in UTC, as partitions are
    with engine.begin() as conn:
        ValueWriter().interval(conn, interval_rows(1, decode(minute(old, 20.0)), raw_id=None))
    with engine.connect() as conn:
        assert "interval_value_p202503" in existing(conn, "interval_value")
        assert conn.execute(text("SELECT count(*) FROM interval_value_p202503")).scalar() == 2
