"""What devices report about themselves, from real packets of the standard."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Engine, select

from offsite.hj212 import decode, encode
from offsite.hj212.packet import Packet
from offsite.store.models import CommandResult, FacilityRuntime, FacilityState, InstrumentInfo, LoggerRestart
from offsite.store.reports import report_rows, write_reports
from tests.conftest import load_vectors

NOW = datetime(2026, 11, 29, tzinfo=UTC)
PACKETS = {
    v["cn"]: v["packet"].encode() for v in load_vectors() if v["crc_ok"] and v.get("mn") == "010000A8900016F000169DC0"
}


def store(engine: Engine, data: bytes, raw_id: int = 1) -> None:
    with engine.begin() as conn:
        write_reports(conn, report_rows(5, decode(data), raw_id, NOW))


def test_facility_states_and_run_times(engine: Engine) -> None:
    store(engine, PACKETS["2021"])
    store(engine, PACKETS["2021"])  # a resend
    store(engine, PACKETS["2041"])
    with engine.connect() as conn:
        states = conn.execute(select(FacilityState.facility, FacilityState.state)).all()
        runtimes = conn.execute(select(FacilityRuntime.facility, FacilityRuntime.day, FacilityRuntime.hours)).all()
    assert sorted(states) == [("SB1", 1), ("SB2", 0)]
    assert sorted(runtimes) == [("SB1", date(2016, 8, 1), 1.1), ("SB2", date(2016, 8, 1), 2.1)]


def test_instrument_information_keeps_every_change_and_only_changes(engine: Engine) -> None:
    log = decode(PACKETS["3020"]).packet
    store(engine, PACKETS["3020"])
    store(engine, PACKETS["3020"])  # same value again: not a change
    changed = Packet(
        **{**{f: getattr(log, f) for f in ("cn", "st", "qn", "pw", "mn", "flag")}},
        cp=(("DataTime", "20160801095857"), ("PolId", "w01018"), ("i11001-Info", "//更换试剂//")),
    )
    store(engine, encode(changed))
    with engine.connect() as conn:
        values = conn.execute(
            select(InstrumentInfo.pol_id, InstrumentInfo.info, InstrumentInfo.value).order_by(InstrumentInfo.ts)
        ).all()
    assert values == [("w01018", "i11001", "//清洗管路//"), ("w01018", "i11001", "//更换试剂//")]


def test_restarts_and_command_results(engine: Engine) -> None:
    store(engine, PACKETS["2081"])
    store(engine, PACKETS["9011"])
    store(engine, PACKETS["9012"])
    with engine.connect() as conn:
        assert conn.execute(select(LoggerRestart.restarted_at)).scalar() == datetime(2016, 8, 1, 0, 56, 24, tzinfo=UTC)
        results = conn.execute(select(CommandResult.cn, CommandResult.qn, CommandResult.code)).all()
    assert sorted(results) == [("9011", "20160801085857223", 1), ("9012", "20160801085857223", 1)]


def test_data_uploads_carry_no_reports() -> None:
    assert len(report_rows(5, decode(PACKETS["2051"]), 1, NOW)) == 0
