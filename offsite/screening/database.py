"""The database mode: screen stored minutes with the registry's limits, the video platform's
outages, the data marks and the power meters; store the clues, joined to what was found before.

A clue overlapping a stored one of the same device is the same finding seen again (a constant
run that grew, a drop seen in a later run): the stored clue takes the wider window, the higher
score and the newer evidence. One an officer dismissed stays dismissed and is not raised again
for that window; a confirmed one keeps its state.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from functools import cache, reduce
from operator import add
from typing import Any

import polars as pl
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from offsite.db import make_engine, session_factory
from offsite.quality.marks import DataMark, mark_in_effect
from offsite.registry.models import Camera, Device, Limit, Outlet, PowerMeter, Unit
from offsite.registry.standards import reference_o2
from offsite.screening import profiles
from offsite.screening.engine import screen
from offsite.screening.inputs import (
    CHANGES,
    COMPARISONS,
    DATA,
    DEVICES,
    INDUSTRIES,
    LIMITS,
    MARKS,
    PROFILES,
    SCOPES,
    VIDEO,
    Inputs,
)
from offsite.screening.models import Clue, PeerProfile
from offsite.screening.parameters import Catalogue
from offsite.screening.pool import in_pool
from offsite.screening.prepared import prepare
from offsite.settings import get_settings
from offsite.store.models import MINUTE, ComparisonTest, InstrumentInfo, PowerReading, VideoOutage
from offsite.store.series import read_interval

BATCH_DEVICES = 200
BATCH_READINGS = 10_000_000
"""Most readings a batch is expected to hold, taking each device to send ``READINGS_PER_MINUTE``:
screening 10 million took 2.75 GB at most (30 devices × 30 days, one process), so two workers
keep within the 8 GB the province screening is allowed. A day's window fits ``BATCH_DEVICES``; the
nightly profiles' 30 days, 28 devices a batch."""
READINGS_PER_MINUTE = 8
PROFILE_WINDOW = timedelta(days=30)
"""The days peers are profiled over: a month, as alarms are graded."""
PACKETS_IN_EVIDENCE = 500


@dataclass(frozen=True, slots=True)
class Stored:
    clues: int = 0
    created: int = 0
    updated: int = 0
    kept_dismissed: int = 0

    def __add__(self, other: Stored) -> Stored:
        return Stored(
            self.clues + other.clues,
            self.created + other.created,
            self.updated + other.updated,
            self.kept_dismissed + other.kept_dismissed,
        )


def screen_window(
    engine: Engine,
    start: datetime,
    end: datetime,
    *,
    catalogue: Catalogue,
    now: datetime,
    device_ids: Sequence[int] | None = None,
    workers: int | None = 1,
) -> tuple[Stored, list[str]]:
    """Screen every device (or those given) over ``start``–``end`` and store what it finds.
    Peers are judged by the stored profiles; where none are stored yet, they are computed first
    (and stored), over the last ``PROFILE_WINDOW`` up to ``end`` or this window if it is longer.
    Batches of devices are screened in a pool of ``workers`` processes (None: one per core);
    what they find is stored here, batch by batch."""
    with Session(engine) as session:
        devices = _devices(session, device_ids)
        peer_profiles = stored_profiles(session)
    if peer_profiles.is_empty():
        window = min(start, end - PROFILE_WINDOW)
        peer_profiles = refresh_profiles(engine, window, end, catalogue=catalogue, now=now, workers=workers)
    batches, database, workers = _plan(engine, devices, workers, end - start)
    jobs = [_Batch(database, batch, start, end, catalogue, peer_profiles) for batch in batches]
    done, notices = Stored(), []
    for batch, (records, found) in zip(batches, in_pool(_screen_batch, jobs, workers), strict=True):
        notices += found
        with session_factory(engine)() as session:
            done += _store(engine, session, records, batch, now)
            session.commit()
    return done, notices


def refresh_profiles(
    engine: Engine, start: datetime, end: datetime, *, catalogue: Catalogue, now: datetime, workers: int | None = 1
) -> pl.DataFrame:
    """Profile the peers of every active device over ``start``–``end`` (batch by batch, in a
    pool of ``workers`` processes, then the quantiles over all), and store the profiles in place
    of the last ones."""
    with Session(engine) as session:
        devices = _devices(session, None)
    batches, database, workers = _plan(engine, devices, workers, end - start)
    jobs = [_Batch(database, batch, start, end, catalogue) for batch in batches]
    observed = in_pool(_observe_batch, jobs, workers)
    found = profiles.profile(
        reduce(add, (o for o, _ in observed), profiles.Observations.empty()),
        pl.concat([pl.DataFrame(schema=INDUSTRIES), *(i for _, i in observed)]),
        catalogue,
    )
    with session_factory(engine)() as session:
        session.execute(delete(PeerProfile))
        session.add_all(
            PeerProfile(**row, window_start=start, window_end=end, computed_at=now)
            for row in found.iter_rows(named=True)
        )
        session.commit()
    return found


@dataclass(frozen=True, slots=True)
class _Batch:
    """One batch's work, sent to a worker process: the database as a URL there (an engine
    does not cross processes), the engine itself when the work is done here."""

    database: Engine | str
    devices: list[dict[str, Any]]
    start: datetime
    end: datetime
    catalogue: Catalogue
    peer_profiles: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=PROFILES))

    def engine(self) -> Engine:
        return self.database if isinstance(self.database, Engine) else _engine(self.database)


def _screen_batch(job: _Batch) -> tuple[list[dict[str, Any]], list[str]]:
    """The batch's clues as records (with their evidence windows), and the notices."""
    engine = job.engine()
    with Session(engine) as session:
        inputs = replace(_inputs(engine, session, job.devices, job.start, job.end), profiles=job.peer_profiles)
    result = screen(inputs, job.catalogue)
    return result.records(inputs.data), result.notices


def _observe_batch(job: _Batch) -> tuple[profiles.Observations, pl.DataFrame]:
    engine = job.engine()
    with Session(engine) as session:
        inputs = _inputs(engine, session, job.devices, job.start, job.end, for_profiles=True)
    return profiles.observe(prepare(inputs), job.catalogue), inputs.industries


def _plan(
    engine: Engine, devices: list[dict[str, Any]], workers: int | None, window: timedelta
) -> tuple[list[list[dict[str, Any]]], Engine | str, int]:
    """The batches, how their work reaches the database, and how many processes do it
    (``workers``; None: one per core)."""
    batches = _batches(devices, workers or os.cpu_count() or 1, window)
    database, workers = _for_workers(engine, workers or os.cpu_count() or 1, len(batches))
    return batches, database, workers


def _batches(devices: list[dict[str, Any]], workers: int, window: timedelta) -> list[list[dict[str, Any]]]:
    """Batches of at most ``BATCH_DEVICES`` and, over long windows, fewer: about ``BATCH_READINGS``.
    As many batches as a multiple of the workers when there are several (600 devices, 2
    workers, a day: four of 150, not three of 200, of which one worker would screen two while
    the other waits)."""
    minutes = max(window.total_seconds() / 60, 1)
    largest = max(1, min(BATCH_DEVICES, int(BATCH_READINGS / (READINGS_PER_MINUTE * minutes))))
    count = -(-len(devices) // largest)
    if count > 1:
        count = -(-count // workers) * workers
    size = -(-len(devices) // count) if count else 1
    return [devices[offset : offset + size] for offset in range(0, len(devices), size)]


def _for_workers(engine: Engine, workers: int, batches: int) -> tuple[Engine | str, int]:
    """How many processes do the batches' work, and how they reach the database: the engine
    itself when it is done in this process (one worker, one batch, or an in-memory SQLite
    database no other process can open), otherwise its URL."""
    url = engine.url
    in_memory = url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")
    workers = min(workers, batches)
    if in_memory or workers <= 1:
        return engine, 1
    return url.render_as_string(hide_password=False), workers


@cache
def _engine(url: str) -> Engine:
    """One engine per database in a worker process, kept for the batches that follow."""
    return make_engine(url)


def stored_profiles(session: Session) -> pl.DataFrame:
    rows = session.execute(
        select(PeerProfile.industry, PeerProfile.metric, PeerProfile.factor, PeerProfile.value, PeerProfile.peers)
    ).all()
    return pl.DataFrame(rows, schema=PROFILES, orient="row")


def _devices(session: Session, device_ids: Sequence[int] | None) -> list[dict[str, Any]]:
    query = (
        select(Device.id, Device.mn, Device.outlet_id, Outlet.unit_id, Unit.industry_code, Unit.credit_code)
        .select_from(Device)
        .join(Outlet, Outlet.id == Device.outlet_id)
        .join(Unit, Unit.id == Outlet.unit_id)
        .where(Device.active.is_(True))
    )
    if device_ids is not None:
        query = query.where(Device.id.in_(list(device_ids)))
    return [
        {"id": d, "mn": mn, "outlet": o, "unit": u, "industry": i, "credit_code": c}
        # batches hold one industry's devices together, so that peers are compared with peers
        for d, mn, o, u, i, c in session.execute(query.order_by(Unit.industry_code, Device.id))
    ]


def _inputs(
    engine: Engine,
    session: Session,
    devices: list[dict[str, Any]],
    start: datetime,
    end: datetime,
    *,
    for_profiles: bool = False,
) -> Inputs:
    """The devices' readings and what comes with them. ``for_profiles``: only what the peer
    observations read (readings, power, limits, marks, industries); no cameras, instrument
    facts, parameter changes or comparison tests."""
    ids = [d["id"] for d in devices]
    mn_of = pl.DataFrame(
        {"device_id": ids, "mn": [d["mn"] for d in devices]}, schema={"device_id": pl.Int64, "mn": pl.String}
    )
    minutes = read_interval(engine, ids, start, end, period=MINUTE, columns=("avg", "flag"))
    data = minutes.join(mn_of, on="device_id").select(
        "mn", "factor", pl.col("ts").alias("time"), pl.col("avg").alias("value"), pl.col("flag").fill_null("N")
    )
    data = pl.concat([data.cast(DATA), _power(session, devices, start, end)])
    industries = pl.DataFrame([(d["mn"], d["industry"]) for d in devices], schema=INDUSTRIES, orient="row")
    limits, marks = _limits(session, devices, end.date()), _marks(session, devices, start, end)
    if for_profiles:
        return Inputs(data, limits=limits, marks=marks, industries=industries)
    return Inputs(
        data,
        limits=limits,
        video=_video(session, devices, start, end),
        marks=marks,
        devices=_instruments(session, devices, end),
        changes=_changes(session, devices, start, end),
        comparisons=_comparisons(session, devices, start, end),
        industries=industries,
        scopes=pl.DataFrame(
            [(d["mn"], f"unit:{d['credit_code']}") for d in devices]
            + [(d["mn"], f"outlet:{d['outlet']}") for d in devices],
            schema=SCOPES,
            orient="row",
        ),
    )


def _comparisons(session: Session, devices: list[dict[str, Any]], start: datetime, end: datetime) -> pl.DataFrame:
    mn_of = {d["id"]: d["mn"] for d in devices}
    rows = session.execute(
        select(
            ComparisonTest.device_id,
            ComparisonTest.factor,
            ComparisonTest.at,
            ComparisonTest.reference,
            ComparisonTest.online,
            ComparisonTest.source,
        ).where(ComparisonTest.device_id.in_(list(mn_of)), ComparisonTest.at >= start, ComparisonTest.at < end)
    ).all()
    return pl.DataFrame([(mn_of[d], *rest) for d, *rest in rows], schema=COMPARISONS, orient="row")


def _instruments(session: Session, devices: list[dict[str, Any]], end: datetime) -> pl.DataFrame:
    """Each analyser's range (i13001) and detection limit (i13009), as last reported before ``end``."""
    mn_of = {d["id"]: d["mn"] for d in devices}
    rows = session.execute(
        select(InstrumentInfo.device_id, InstrumentInfo.pol_id, InstrumentInfo.info, InstrumentInfo.value)
        .where(
            InstrumentInfo.device_id.in_(list(mn_of)),
            InstrumentInfo.info.in_(["i13001", "i13009"]),
            InstrumentInfo.ts < end,
        )
        .order_by(InstrumentInfo.ts)
    ).all()
    latest: dict[tuple[str, str], dict[str, float]] = {}
    for device, factor, info, value in rows:
        number = _number(value)
        if number is not None:
            latest.setdefault((mn_of[device], factor), {})[info] = number
    return pl.DataFrame(
        [(mn, f, v.get("i13001"), v.get("i13009")) for (mn, f), v in latest.items()], schema=DEVICES, orient="row"
    )


def _changes(session: Session, devices: list[dict[str, Any]], start: datetime, end: datetime) -> pl.DataFrame:
    """Parameters reported changed within the window (each row is stored when its value changes)."""
    mn_of = {d["id"]: d["mn"] for d in devices}
    rows = session.execute(
        select(
            InstrumentInfo.device_id,
            InstrumentInfo.pol_id,
            InstrumentInfo.info,
            InstrumentInfo.ts,
            InstrumentInfo.value,
        )
        .where(
            InstrumentInfo.device_id.in_(list(mn_of)),
            InstrumentInfo.info.in_(["i13001", "i13007", "i13008"]),
            InstrumentInfo.ts < end,
        )
        .order_by(InstrumentInfo.device_id, InstrumentInfo.pol_id, InstrumentInfo.info, InstrumentInfo.ts)
    ).all()
    out: list[tuple[Any, ...]] = []
    previous: dict[tuple[int, str, str], str] = {}
    for device, factor, info, ts, value in rows:
        key = (device, factor, info)
        if key in previous and previous[key] != value and ts >= start:
            out.append((mn_of[device], factor, ts, info, previous[key], value))
        previous[key] = value
    return pl.DataFrame(out, schema=CHANGES, orient="row")


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _limits(session: Session, devices: list[dict[str, Any]], day: date) -> pl.DataFrame:
    """Each device's daily upper limits in force on ``day``, with the outlet's reference O2 (its
    own, else its standard's: the one the quality layer corrects with). A limit with only a lower
    bound (pH) is not one the rules compare readings with."""
    outlets = {d["outlet"] for d in devices}
    rows = session.execute(
        select(Limit.outlet_id, Limit.factor, Limit.value, Limit.basis, Outlet.o2_ref, Outlet.standard)
        .join(Outlet, Outlet.id == Limit.outlet_id)
        .where(Limit.outlet_id.in_(outlets), Limit.period == "day", Limit.valid_from <= day)
        .where(Limit.valid_to.is_(None) | (Limit.valid_to >= day), Limit.value.is_not(None))
        .order_by(Limit.valid_from)
    ).all()
    # the latest in force wins
    latest = {(o, f): (v, b, reference_o2(ref, key)) for o, f, v, b, ref, key in rows}
    return pl.DataFrame(
        [(d["mn"], f, *rest) for d in devices for (o, f), rest in latest.items() if o == d["outlet"]],
        schema=LIMITS,
        orient="row",
    )


def _video(session: Session, devices: list[dict[str, Any]], start: datetime, end: datetime) -> pl.DataFrame:
    """A device's camera outages: its outlet's cameras, or the unit's cameras of no outlet."""
    units = {d["unit"] for d in devices}
    rows = session.execute(
        select(Camera.unit_id, Camera.outlet_id, VideoOutage.start, VideoOutage.end)
        .join(VideoOutage, VideoOutage.camera_id == Camera.id)
        .where(Camera.unit_id.in_(units), VideoOutage.start < end, VideoOutage.end > start)
    ).all()
    return pl.DataFrame(
        [(d["mn"], s, e) for u, o, s, e in rows for d in devices if d["unit"] == u and (o is None or o == d["outlet"])],
        schema=VIDEO,
        orient="row",
    ).unique()


def _marks(session: Session, devices: list[dict[str, Any]], start: datetime, end: datetime) -> pl.DataFrame:
    outlets = {d["outlet"] for d in devices}
    # screening takes a mark as in effect exactly when judgement does (the mark_takes_effect setting;
    # a pending mark past its decision deadline no longer counts)
    takes_effect, now = get_settings().mark_takes_effect, datetime.now(UTC)
    marks = session.scalars(
        select(DataMark).where(DataMark.outlet_id.in_(outlets), DataMark.start_at < end, DataMark.end_at > start)
    ).all()
    return pl.DataFrame(
        [
            (d["mn"], m.start_at, m.end_at, m.kind, mark_in_effect(m, takes_effect, now), m.filed_at, m.factor)
            for m in marks
            for d in devices
            if d["outlet"] == m.outlet_id and m.device_id in (None, d["id"])
        ],
        schema=MARKS,
        orient="row",
    )


def _power(session: Session, devices: list[dict[str, Any]], start: datetime, end: datetime) -> pl.DataFrame:
    """The unit's meters, as ``power:production`` / ``power:treatment`` series of each of its devices."""
    units = {d["unit"] for d in devices}
    rows = session.execute(
        select(PowerMeter.unit_id, PowerMeter.target, PowerReading.ts, PowerReading.kw)
        .join(PowerReading, PowerReading.meter_id == PowerMeter.id)
        .where(PowerMeter.unit_id.in_(units), PowerReading.ts >= start, PowerReading.ts < end)
    ).all()
    readings = pl.DataFrame(
        rows,
        schema={"unit": pl.Int64, "target": pl.String, "time": pl.Datetime("us", "UTC"), "value": pl.Float64},
        orient="row",
    )
    owners = pl.DataFrame(
        {"unit": [d["unit"] for d in devices], "mn": [d["mn"] for d in devices]},
        schema={"unit": pl.Int64, "mn": pl.String},
    )
    # several meters of one role in a unit add up
    return (
        readings.join(owners, on="unit")
        .group_by("mn", "target", "time")
        .agg(pl.col("value").sum())
        .select("mn", ("power:" + pl.col("target")).alias("factor"), "time", "value", pl.lit("N").alias("flag"))
        .cast(DATA)
    )


def _store(
    engine: Engine, session: Session, records: list[dict[str, Any]], devices: list[dict[str, Any]], now: datetime
) -> Stored:
    by_mn = {d["mn"]: d for d in devices}
    created = updated = kept = 0
    for record in records:
        device = by_mn[record["mn"]]
        start, end = datetime.fromisoformat(record["start"]), datetime.fromisoformat(record["end"])
        record["evidence"]["packets"] = _packets(engine, device["id"], record["factor"], start, end)
        seen = session.scalars(
            select(Clue)
            .where(Clue.device_id == device["id"], Clue.start_at < end, Clue.end_at > start)
            .order_by(Clue.id)
        ).first()
        if seen is None:
            session.add(
                Clue(
                    rule=record["rule"],
                    rules=",".join(record["rules"]),
                    unit_id=device["unit"],
                    outlet_id=device["outlet"],
                    device_id=device["id"],
                    mn=record["mn"],
                    factor=record["factor"],
                    start_at=start,
                    end_at=end,
                    score=record["score"],
                    summary=record["summary"],
                    evidence=record["evidence"],
                    state="new",
                    found_at=now,
                    updated_at=now,
                )
            )
            created += 1
        elif seen.state == "dismissed":
            kept += 1
        else:
            seen.start_at, seen.end_at = min(seen.start_at, start), max(seen.end_at, end)
            seen.rules = ",".join(sorted(set(seen.rules.split(",")) | set(record["rules"])))
            if record["score"] >= seen.score:
                seen.rule, seen.factor, seen.score = record["rule"], record["factor"], record["score"]
            seen.summary, seen.evidence, seen.updated_at = record["summary"], record["evidence"], now
            updated += 1
    session.flush()
    return Stored(len(records), created, updated, kept)


def _packets(engine: Engine, device_id: int, factor: str, start: datetime, end: datetime) -> list[int]:
    """The archived packets the clue's readings came from (``offsite archive show`` prints them)."""
    factors = [factor] if factor not in {"*", "power:treatment"} else None
    frame = read_interval(
        engine,
        [device_id],
        start - timedelta(minutes=30),
        end + timedelta(minutes=30),
        factors=factors,
        columns=("raw_id",),
    )
    ids = frame["raw_id"].drop_nulls().unique().sort().head(PACKETS_IN_EVIDENCE)
    return [int(i) for i in ids.to_list()]
