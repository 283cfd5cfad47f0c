"""What devices report about themselves, projected from decoded packets and stored.

2021 facility states, 2041 facility run times, 3020 site information (every parameter change
kept), 2081 logger restarts, and 9011/9012 answers to the platform's requests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from offsite.db import table_of
from offsite.hj212.errors import BadTime
from offsite.hj212.packet import Decoded
from offsite.hj212.replies import answered_qn
from offsite.hj212.times import CST, parse_time
from offsite.store.models import CommandResult, FacilityRuntime, FacilityState, InstrumentInfo, LoggerRestart

Row = dict[str, Any]


@dataclass(slots=True)
class Reports:
    """Rows for each report table, from one or more packets."""

    states: list[Row] = field(default_factory=list)
    runtimes: list[Row] = field(default_factory=list)
    infos: list[Row] = field(default_factory=list)
    restarts: list[Row] = field(default_factory=list)
    results: list[Row] = field(default_factory=list)

    def extend(self, other: Reports) -> None:
        for name in self.__slots__:
            getattr(self, name).extend(getattr(other, name))

    def __len__(self) -> int:
        return sum(len(getattr(self, name)) for name in self.__slots__)


def report_rows(device_id: int, decoded: Decoded, raw_id: int | None, received_at: datetime) -> Reports:
    """The report rows a decoded packet carries (none for data uploads)."""
    packet = decoded.packet
    out = Reports()
    cn = packet.cn
    if cn in ("2021", "2041") and decoded.data_time is not None:
        suffix = "RS" if cn == "2021" else "RT"
        for code, factor in decoded.factors.items():
            number = factor.numbers.get(suffix)
            if number is None:
                continue
            if cn == "2021":
                out.states.append(
                    {
                        "device_id": device_id,
                        "facility": code,
                        "ts": decoded.data_time,
                        "state": int(number),
                        "raw_id": raw_id,
                    }
                )
            else:
                day = decoded.data_time.astimezone(CST).date()
                out.runtimes.append(
                    {"device_id": device_id, "facility": code, "day": day, "hours": number, "raw_id": raw_id}
                )
    elif cn == "3020":
        ts = decoded.data_time or received_at
        pol_id = packet.get("PolId") or ""
        for code, factor in decoded.factors.items():
            text = factor.fields.get("Info")
            if text is not None and code.startswith("i"):
                out.infos.append(
                    {"device_id": device_id, "pol_id": pol_id, "info": code, "ts": ts, "value": text, "raw_id": raw_id}
                )
    elif cn == "2081":
        text = packet.get("RestartTime")
        if text is not None:
            try:
                restarted = parse_time(text, "RestartTime")
            except BadTime:
                restarted = None  # the packet itself is archived with its text; nothing to index here
            if restarted is not None:
                out.restarts.append({"device_id": device_id, "restarted_at": restarted, "raw_id": raw_id})
    elif cn in ("9011", "9012"):
        key = "QnRtn" if cn == "9011" else "ExeRtn"
        qn, result = answered_qn(packet), packet.get(key)
        if qn and result and result.isdigit():
            out.results.append(
                {
                    "device_id": device_id,
                    "qn": qn,
                    "cn": cn,
                    "code": int(result),
                    "received_at": received_at,
                    "raw_id": raw_id,
                }
            )
    return out


def write_reports(conn: Connection, reports: Reports) -> int:
    """Store report rows; resends do not duplicate, and a 3020 value is stored only when it changed."""
    _upsert(conn, table_of(FacilityState), reports.states, ("device_id", "facility", "ts"), ("state", "raw_id"))
    _upsert(conn, table_of(FacilityRuntime), reports.runtimes, ("device_id", "facility", "day"), ("hours", "raw_id"))
    _upsert(conn, table_of(LoggerRestart), reports.restarts, ("device_id", "restarted_at"), ("raw_id",))
    changed = [row for row in reports.infos if _info_changed(conn, row)]
    if changed:
        conn.execute(insert(InstrumentInfo), changed)
    if reports.results:
        conn.execute(insert(CommandResult), reports.results)
    return len(reports)


def _info_changed(conn: Connection, row: Mapping[str, Any]) -> bool:
    table = table_of(InstrumentInfo)
    last = conn.execute(
        select(table.c.value)
        .where(
            table.c.device_id == row["device_id"],
            table.c.pol_id == row["pol_id"],
            table.c.info == row["info"],
            table.c.ts <= row["ts"],
        )
        .order_by(table.c.ts.desc(), table.c.id.desc())
        .limit(1)
    ).scalar()
    return bool(last != row["value"])


def _upsert(
    conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], keys: tuple[str, ...], columns: tuple[str, ...]
) -> None:
    if not rows:
        return
    unique = list({tuple(r[k] for k in keys): r for r in rows}.values())
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = dialect_insert(table)
    conn.execute(
        stmt.on_conflict_do_update(index_elements=list(keys), set_={c: stmt.excluded[c] for c in columns}), unique
    )
