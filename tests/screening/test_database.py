"""The database mode: stored minutes screened with the registry's context; clues stored once,
joined to earlier ones, and a dismissal respected."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import Engine, delete, select
from typer.testing import CliRunner

from offsite.cli import app
from offsite.db import make_engine, session_factory
from offsite.hj212.times import CST
from offsite.jobs import scheduled
from offsite.jobs.scheduled import profiles_job, screen_job
from offsite.registry.models import Camera, Device, Limit, Outlet, Unit
from offsite.registry.regions import load_anhui
from offsite.screening import database
from offsite.screening.database import screen_window
from offsite.screening.models import Clue, PeerProfile
from offsite.screening.parameters import load
from offsite.screening.pool import in_pool
from offsite.screening.profiles import OUT_OF_SERVICE
from offsite.settings import Settings
from offsite.sim import scenarios as sc
from offsite.sim.frames import long_frame
from offsite.store.models import MINUTE, InstrumentInfo, VideoOutage
from offsite.store.values import ValueWriter
from tests.screening.planted import AT, LIMIT, START, device

runner = CliRunner()
NOW = START + timedelta(days=3)


def plant(engine: Engine) -> None:
    with session_factory(engine)() as session:
        load_anhui(session)
        session.add(
            Unit(
                id=1,
                credit_code="91340100000000000D",
                name="宿州某建材公司",
                industry_code="C3011",
                region_code="341302",
            )
        )
        session.flush()
        session.add(Outlet(id=1, unit_id=1, code="DA001", name="窑尾烟囱", medium="gas", o2_ref=10.0))
        session.flush()
        session.add(Device(id=1, outlet_id=1, mn="MN-SZ-001", password_enc=b"-"))
        session.add(
            Limit(
                outlet_id=1,
                factor="a21026",
                standard="GB4915-2013",
                value=LIMIT,
                basis="measured",
                period="day",
                valid_from=date(2026, 1, 1),
                source="test",
            )
        )
        session.add(
            Camera(id=1, unit_id=1, outlet_id=None, target="station_room", name="站房", platform="v", channel_id="c1")
        )
        session.commit()
    s = device("MN-SZ-001", 7, lambda s: sc.article_case(s, "a21026", AT, LIMIT, platform="v", channel="c1", drops=2))
    write_minutes(engine, long_frame([s]).with_row_index("raw_id", offset=1000), {"MN-SZ-001": 1})
    with session_factory(engine)() as session:
        session.add_all(VideoOutage(camera_id=1, start=a, end=b, source="test") for _, _, a, b in s.video)
        session.commit()


def test_database_clues_are_stored_joined_and_their_review_respected(database_url: str, engine: Engine) -> None:
    plant(engine)
    catalogue = load()
    stored, _ = screen_window(engine, START, START + timedelta(days=3), catalogue=catalogue, now=NOW)
    assert (stored.clues, stored.created) == (2, 2)  # two drops, each with the station-room video missing
    listed = runner.invoke(app, ["clues", "list", "--json", "--database-url", database_url])
    clues = json.loads(listed.stdout)
    assert [c["rules"] for c in clues] == [["R05", "R11"], ["R05", "R11"]]
    first = clues[0]
    assert (first["unit"], first["unit_name"], first["state"]) == ("91340100000000000D", "宿州某建材公司", "new")
    assert first["evidence"]["packets"]  # the archived packets behind the window
    assert min(first["evidence"]["packets"]) >= 1000

    again, _ = screen_window(engine, START, START + timedelta(days=3), catalogue=catalogue, now=NOW)
    assert (again.created, again.updated) == (0, 2)  # the same findings, not new clues
    dismissed = runner.invoke(
        app,
        [
            "clues",
            "review",
            str(first["id"]),
            "--state",
            "dismissed",
            "--by",
            "张三",
            "--reason",
            "校准记录可查",
            "--database-url",
            database_url,
        ],
    )
    assert dismissed.stdout.strip() == f"clue {first['id']}: dismissed"
    third, _ = screen_window(engine, START, START + timedelta(days=3), catalogue=catalogue, now=NOW)
    assert (third.created, third.updated, third.kept_dismissed) == (0, 1, 1)
    states = [
        c["state"]
        for c in json.loads(runner.invoke(app, ["clues", "list", "--json", "--database-url", database_url]).stdout)
    ]
    assert sorted(states) == ["dismissed", "new"]
    only_new = runner.invoke(app, ["clues", "list", "--state", "new", "--json", "--database-url", database_url])
    assert len(json.loads(only_new.stdout)) == 1
    no_reason = runner.invoke(
        app, ["clues", "review", "1", "--state", "dismissed", "--by", "x", "--database-url", database_url]
    )
    assert no_reason.exit_code == 2


def test_screen_command_on_the_database(database_url: str, engine: Engine) -> None:
    plant(engine)
    result = runner.invoke(
        app, ["screen", "--from", "2026-11-02", "--to", "2026-11-04", "--database-url", database_url]
    )
    assert result.exit_code == 0, result.output
    assert "2 clues; 2 new" in result.stdout
    refused = runner.invoke(app, ["screen", "--database-url", database_url])
    assert refused.exit_code == 2  # neither --input nor --from


def test_a_range_lowered_without_maintenance_is_r04(database_url: str, engine: Engine) -> None:
    plant(engine)
    lowered = START + timedelta(days=1, hours=3)
    with session_factory(engine)() as session:
        session.add_all(
            [
                InstrumentInfo(device_id=1, pol_id="a21026", info="i13001", ts=START, value="1000"),
                InstrumentInfo(device_id=1, pol_id="a21026", info="i13001", ts=lowered, value="300"),
                InstrumentInfo(device_id=1, pol_id="a21026", info="i13008", ts=START, value="1.00"),
            ]
        )
        session.commit()
    screen_window(engine, START, START + timedelta(days=3), catalogue=load(), now=NOW)
    listed = json.loads(runner.invoke(app, ["clues", "list", "--json", "--database-url", database_url]).stdout)
    changed = [c for c in listed if "R04" in c["rules"]]
    assert len(changed) == 1
    assert "量程" in changed[0]["summary"]
    assert "由 1000 改为 300" in changed[0]["summary"]


def test_comparison_tests_imported_and_screened(database_url: str, engine: Engine, tmp_path: Path) -> None:
    plant(engine)
    day = (START + timedelta(days=1, hours=2)).astimezone(CST).isoformat()
    later = (START + timedelta(days=2, hours=2)).astimezone(CST).isoformat()
    feed = tmp_path / "comparisons.csv"
    feed.write_text(
        "mn,factor,time,reference,online,source\n"
        f"MN-SZ-001,a21026,{day},180,95,宿州市监测站 2026-118\n"  # 47 % under: far beyond 20 %
        f"MN-SZ-001,a21026,{later},40,35,运维比对 2026-07\n",  # 5 below 40: within the 17 mg/m³ floor
        encoding="utf-8",
    )
    imported = runner.invoke(app, ["import", "comparisons", str(feed), "--database-url", database_url])
    assert imported.exit_code == 0, imported.output
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "mn,factor,time,reference,online,source\nNOPE,a21026,2026-11-02T10:00:00+08:00,1,1,x\n", encoding="utf-8"
    )
    refused = runner.invoke(app, ["import", "comparisons", str(bad), "--database-url", database_url])
    assert refused.exit_code == 1
    assert "no device 'NOPE'" in refused.stderr
    screen_window(engine, START, START + timedelta(days=3), catalogue=load(), now=NOW)
    listed = json.loads(runner.invoke(app, ["clues", "list", "--json", "--database-url", database_url]).stdout)
    compared = [c for c in listed if "R17" in c["rules"]]
    assert len(compared) == 1
    assert "参比值 180.0，在线值 95.0，偏差 -47%" in compared[0]["summary"]


def plant_peers(engine: Engine, start: datetime = START, stop_at: int = AT) -> None:
    """Seven kilns of one industry, three days of SO2 minutes from ``start``; the last one out
    of service six hours from minute ``stop_at``."""
    with session_factory(engine)() as session:
        load_anhui(session)
        for n in range(1, 8):
            session.add(
                Unit(
                    id=n,
                    credit_code=f"9134010000000000{n:02d}",
                    name=f"建材{n}",
                    industry_code="C3011",
                    region_code="341302",
                )
            )
            session.flush()
            session.add(Outlet(id=n, unit_id=n, code="DA001", name="窑尾", medium="gas"))
            session.flush()
            session.add(Device(id=n, outlet_id=n, mn=f"MN-K{n}", password_enc=b"-"))
        session.commit()
    planted = [device(f"MN-K{n}", 300 + n, start=start) for n in range(1, 7)]
    planted.append(device("MN-K7", 307, lambda s: sc.flagged(s, "a21026", stop_at, 360, "M"), start=start))
    frame = long_frame(planted).filter(pl.col("factor") == "a21026")
    write_minutes(engine, frame, {f"MN-K{n}": n for n in range(1, 8)})


def write_minutes(engine: Engine, frame: pl.DataFrame, device_of: dict[str, int]) -> None:
    """The frame's readings stored as minute values (with their packets' ids, if it has them)."""
    rows = [
        {
            "device_id": device_of[r["mn"]],
            "period": MINUTE,
            "factor": r["factor"],
            "ts": r["time"],
            "avg": r["value"],
            "flag": r["flag"],
            "raw_id": r.get("raw_id"),
        }
        for r in frame.iter_rows(named=True)
    ]
    with engine.begin() as conn:
        ValueWriter().interval(conn, rows)


def peer_clues(database_url: str) -> list[dict[str, object]]:
    listed = json.loads(runner.invoke(app, ["clues", "list", "--json", "--database-url", database_url]).stdout)
    return [c for c in listed if "同行业" in c["summary"]]


def test_peers_are_judged_by_stored_profiles_computed_over_every_device(database_url: str, engine: Engine) -> None:
    plant_peers(engine)
    end = START + timedelta(days=3)
    # screening one device: its peers are profiled over every device first, and stored
    screen_window(engine, START, end, catalogue=load(), now=NOW, device_ids=[7])
    [clue] = peer_clues(database_url)
    assert (clue["mn"], clue["rule"]) == ("MN-K7", "R07")
    assert "同行业 7 台设备" in clue["summary"]
    with session_factory(engine)() as session:
        stored = session.execute(select(PeerProfile).where(PeerProfile.metric == OUT_OF_SERVICE)).scalar_one()
        assert (stored.industry, stored.peers, stored.value) == ("C3011", 7, 0.0)
        # later screenings read the stored profiles: make the industry's usual out-of-service time long …
        stored.value = 12.0
        session.execute(delete(Clue))
        session.commit()
    screen_window(engine, START, end, catalogue=load(), now=NOW, device_ids=[7])
    assert peer_clues(database_url) == []  # … and six hours no longer stand out
    # --refresh-profiles computes them again over the days screened
    result = runner.invoke(
        app,
        ["screen", "--from", "2026-11-02", "--to", "2026-11-04", "--refresh-profiles", "--database-url", database_url],
    )
    assert result.exit_code == 0, result.output
    assert "peer profiles: 1 over 1 industries" in result.stdout
    assert [c["mn"] for c in peer_clues(database_url)] == ["MN-K7"]


def test_overrides_reach_a_unit_and_an_outlet_in_the_database(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    plant(engine)
    config = tmp_path / "rules.toml"
    args = ["screen", "--from", "2026-11-02", "--to", "2026-11-04", "--config", str(config)]
    switched_off = "\n".join(f'[override."{{scope}}".{rule}]\nenabled = false\n' for rule in ("R05", "R11"))
    # the unit's drops and video outages switched off: nothing is left to find
    config.write_text(switched_off.format(scope="unit:91340100000000000D"), encoding="utf-8")
    result = runner.invoke(app, [*args, "--database-url", database_url])
    assert result.exit_code == 0, result.output
    assert ": 0 clues" in result.stdout
    # so does its outlet's; another outlet's switch leaves this one alone
    config.write_text(switched_off.format(scope="outlet:1"), encoding="utf-8")
    assert ": 0 clues" in runner.invoke(app, [*args, "--database-url", database_url]).stdout
    config.write_text(switched_off.format(scope="outlet:2"), encoding="utf-8")
    assert ": 2 clues; 2 new" in runner.invoke(app, [*args, "--database-url", database_url]).stdout


def test_batches_screened_in_a_pool_find_what_one_process_finds(
    database_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    plant_peers(engine)
    monkeypatch.setattr(database, "BATCH_DEVICES", 3)  # four batches for two workers: 2, 2, 2 and MN-K7
    pools: list[int] = []

    def counted(work: Any, jobs: list[Any], workers: int | None) -> list[Any]:
        pools.append(workers or 0)
        return in_pool(work, jobs, workers)

    monkeypatch.setattr(database, "in_pool", counted)
    end = START + timedelta(days=3)
    pooled, _ = screen_window(engine, START, end, catalogue=load(), now=NOW, workers=2)
    assert pools == [2, 2]  # the profiles, then the screening, each in two processes
    in_pool_found, in_pool_profiles = stored_clues(engine), stored_profile_rows(engine)
    [clue] = peer_clues(database_url)  # MN-K7's batch saw the profile of all seven devices
    assert "同行业 7 台设备" in clue["summary"]
    with session_factory(engine)() as session:
        session.execute(delete(Clue))
        session.execute(delete(PeerProfile))
        session.commit()
    alone, _ = screen_window(engine, START, end, catalogue=load(), now=NOW, workers=1)
    assert pools[2:] == [1, 1]
    assert (pooled.clues, pooled.created) == (alone.clues, alone.created)
    assert stored_clues(engine) == in_pool_found
    assert stored_profile_rows(engine) == in_pool_profiles


def test_an_in_memory_database_is_screened_in_this_process() -> None:
    memory = make_engine("sqlite://")
    assert database._for_workers(memory, 2, batches=5) == (memory, 1)  # another process could not open it
    on_disk = make_engine("sqlite:////tmp/offsite-screening.db")
    assert database._for_workers(on_disk, 2, batches=1) == (on_disk, 1)
    assert database._for_workers(on_disk, 2, batches=5) == ("sqlite:////tmp/offsite-screening.db", 2)


def test_batches_are_a_multiple_of_the_workers_and_shorter_over_long_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    devices = [{"mn": f"MN{n}"} for n in range(600)]
    day, month = timedelta(days=1), timedelta(days=30)
    assert [len(b) for b in database._batches(devices, 2, day)] == [150, 150, 150, 150]
    assert [len(b) for b in database._batches(devices, 1, day)] == [200, 200, 200]
    assert [len(b) for b in database._batches(devices[:150], 2, day)] == [150]  # one batch: no pool to feed
    assert database._batches([], 2, day) == []
    assert [d["mn"] for b in database._batches(devices[:7], 4, day) for d in b] == [f"MN{n}" for n in range(7)]
    # a month of minutes: batches of about 10 million readings (28 devices × 8 factors × 43,200 minutes)
    monthly = database._batches(devices, 2, month)
    assert (len(monthly), max(map(len, monthly))) == (22, 28)
    assert sum(map(len, monthly)) == 600


def stored_clues(engine: Engine) -> list[tuple[Any, ...]]:
    with session_factory(engine)() as session:
        rows = session.scalars(select(Clue).order_by(Clue.mn, Clue.start_at, Clue.rule)).all()
        return [(c.rule, c.rules, c.mn, c.factor, c.start_at, c.end_at, c.score, c.summary, c.evidence) for c in rows]


def stored_profile_rows(engine: Engine) -> list[tuple[Any, ...]]:
    with session_factory(engine)() as session:
        rows = session.scalars(select(PeerProfile).order_by(PeerProfile.metric, PeerProfile.factor)).all()
        return [(p.industry, p.metric, p.factor, p.value, p.peers) for p in rows]


def test_a_clue_is_shown_with_its_evidence(database_url: str, engine: Engine) -> None:
    plant(engine)
    screen_window(engine, START, START + timedelta(days=3), catalogue=load(), now=NOW)
    listed = runner.invoke(app, ["clues", "list", "--json", "--database-url", database_url])
    [first, _] = json.loads(listed.stdout)
    args = ["clues", "show", str(first["id"]), "--database-url", database_url]
    shown = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    text = shown.stdout
    assert f"线索 #{first['id']}  R05,R11" in text
    assert "宿州某建材公司 (91340100000000000D) · 排口 窑尾烟囱 (DA001) · 设备 MN-SZ-001 · SO2 a21026" in text
    assert first["summary"] in text
    assert "R05 突降 · " in text  # each rule that fired, by name
    assert "R11 视频缺失 · " in text
    assert "R05: alpha=0.8, drop=0.5" in text  # the parameters in force
    readings = first["evidence"]["data"]["series"]["a21026"]
    assert re.search(rf"SO2 a21026 +│ {len(readings)} ", text)  # the digest of each series of the window
    packets = first["evidence"]["packets"]
    assert f"{len(packets)} archived packets behind these readings: offsite archive show {packets[0]} " in text

    every = runner.invoke(app, [*args, "--data"], env={"COLUMNS": "200"}).stdout
    moment, value, _ = readings[0]
    assert f"{datetime.fromisoformat(moment).astimezone(CST):%m-%d %H:%M}" in every
    assert f"{value:g}" in every

    review = ["clues", "review", str(first["id"]), "--state", "dismissed", "--by", "张三", "--reason", "校准记录可查"]
    runner.invoke(app, [*review, "--database-url", database_url])
    assert "dismissed by 张三" in runner.invoke(app, args, env={"COLUMNS": "200"}).stdout
    record = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert (record["outlet_name"], record["state"], record["reason"]) == ("窑尾烟囱", "dismissed", "校准记录可查")
    assert record["evidence"] == first["evidence"]
    missing = runner.invoke(app, ["clues", "show", "9999", "--database-url", database_url])
    assert missing.exit_code == 2
    assert "no clue 9999" in missing.stderr


def test_the_workers_jobs_profile_and_screen_in_a_pool(
    database_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime(2026, 11, 20, 3, 20, tzinfo=CST)  # the jobs' clock

    class Clock(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> datetime:  # a plain one: it goes to the workers
            return datetime.fromtimestamp(now.timestamp(), tz)

    monkeypatch.setattr(scheduled, "datetime", Clock)
    # seven kilns' last three days up to this hour, the last one out of service for six hours
    # of one China day (11-19 18:00–24:00) in the last 24
    first = datetime(2026, 11, 17, 3, tzinfo=CST)
    plant_peers(engine, first, stop_at=(2 * 24 + 15) * 60)
    monkeypatch.setattr(database, "BATCH_DEVICES", 3)
    settings = Settings(database_url=database_url, screen_workers=2)
    assert profiles_job(engine, settings) == "profiles: 1 over 1 industries"
    assert screen_job(engine, settings) == "screen: 1 clues, 1 new, 0 seen before"
    [clue] = peer_clues(database_url)
    assert (clue["mn"], clue["rule"]) == ("MN-K7", "R07")


def test_clues_are_listed_by_region_rule_and_score(database_url: str, engine: Engine) -> None:
    plant(engine)  # a unit in 341302 (埇桥区, 宿州市): two clues, R05 + R11, scored about 0.97
    screen_window(engine, START, START + timedelta(days=3), catalogue=load(), now=NOW)

    def listed(*args: str) -> list[dict[str, Any]]:
        result = runner.invoke(app, ["clues", "list", "--json", *args, "--database-url", database_url])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    assert len(listed()) == 2
    assert len(listed("--region", "340000")) == 2  # the province
    assert len(listed("--region", "341300")) == 2  # the city
    assert len(listed("--region", "341302")) == 2  # the county
    assert listed("--region", "340100") == []  # another city
    assert len(listed("--rule", "R11")) == 2
    assert listed("--rule", "R01") == []
    assert listed("--rule", "R10") == []  # not found inside "R05,R11"
    assert listed("--rule", "R19") == []  # the newest rule of the catalogue is one to filter by
    scores = [c["score"] for c in listed()]
    assert len(listed("--min-score", str(max(scores)))) == scores.count(max(scores))
    assert listed("--min-score", "1") == []
    [top] = listed("--limit", "1")
    assert top["score"] == max(scores)
    for bad in (["--region", "999999"], ["--rule", "R20"], ["--rule", "r05"]):
        refused = runner.invoke(app, ["clues", "list", *bad, "--database-url", database_url])
        assert refused.exit_code == 2, bad


def test_clues_list_reads_china_time_and_says_so(database_url: str, engine: Engine) -> None:
    plant(engine)
    screen_window(engine, START, START + timedelta(days=3), catalogue=load(), now=NOW)
    [first, _] = json.loads(runner.invoke(app, ["clues", "list", "--json", "--database-url", database_url]).stdout)
    start = datetime.fromisoformat(first["start"])
    assert first["start"].endswith("+08:00")
    table = runner.invoke(app, ["clues", "list", "--database-url", database_url], env={"COLUMNS": "250"}).stdout
    assert "北京时间" in table
    assert f"{start:%Y-%m-%d %H:%M}–" in table  # the window as China time, not the stored UTC
    assert "待核查" in table  # the state in the table's language
    csv = runner.invoke(app, ["clues", "list", "--csv", "--database-url", database_url]).stdout.splitlines()
    assert csv[0] == "id,rule,rules,mn,factor,start,end,score,summary,unit,unit_name,state"
    assert len(csv) == 3
    assert f",{first['start']}," in csv[1]
