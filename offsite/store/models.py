"""Tables of the store. The value tables are partitioned by month on PostgreSQL (see partitions.py)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Float,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from offsite.db import Base, UtcDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")
FactorCode = String(16).with_variant(String(16, collation="C"), "postgresql")
"""Factor codes compare byte-wise in keys: a locale collation (zh_CN.UTF-8) would slow every lookup."""

MINUTE, HOUR, DAY = 1, 2, 3
PERIODS = {"minute": MINUTE, "hour": HOUR, "day": DAY}
PERIOD_OF_CN = {"2051": MINUTE, "2061": HOUR, "2031": DAY}


class RawPacket(Base):
    """Every packet received, verbatim, append-only, hash-chained per writer (gateway process)."""

    __tablename__ = "raw_packet"
    __table_args__ = (UniqueConstraint("writer", "seq"), Index("ix_raw_packet_mn_received", "mn", "received_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    writer: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    peer: Mapped[str] = mapped_column(String(64))
    # header fields as the sender wrote them, escaped and cut to HEADER_FIELD_MAX characters
    # (offsite.store.archive.bounded), so that no value a device sends can fail the write
    mn: Mapped[str | None] = mapped_column(String(64))
    cn: Mapped[str | None] = mapped_column(String(64))
    qn: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(24))
    """``ok``, or the codec error code (``crc_mismatch`` …), or the gateway's reason (``unknown_mn`` …)."""
    error: Mapped[str | None] = mapped_column(Text)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    version: Mapped[int] = mapped_column(SmallInteger, server_default="1")
    """Record format: 1 hashed the fields after the previous hash; 2 hashes the previous hash, the
    row id, the seq and a hash of the fields (``offsite.store.archive``). Old rows keep theirs."""


class ArchiveCheckpoint(Base):
    """A chain's head at a point in time; published heads let even a rewritten chain be caught."""

    __tablename__ = "archive_checkpoint"

    writer: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    first_seq: Mapped[int | None] = mapped_column(BigInteger)
    """The first record the Merkle root covers (the one after the previous checkpoint)."""
    merkle_root: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    """Root of the tree over the hashes of records ``first_seq`` … ``seq`` (``offsite.store.merkle``)."""
    signature: Mapped[bytes | None] = mapped_column(LargeBinary(64))
    """Ed25519 signature of ``checkpoint_message`` by the deployment's key (none on older checkpoints)."""
    key_fingerprint: Mapped[str | None] = mapped_column(String(16))


class IntervalValue(Base):
    """Minute, hour and day values (2051/2061/2031) of one device and factor.

    The key leads with (device, period) so that reading one device's series is a prefix range
    scan in key order; SQLite stores the rows clustered by that key (WITHOUT ROWID).
    """

    __tablename__ = "interval_value"
    __table_args__ = {"postgresql_partition_by": "RANGE (ts)", "sqlite_with_rowid": False}  # noqa: RUF012

    device_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    factor: Mapped[str] = mapped_column(FactorCode, primary_key=True)
    ts: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    """Start of the interval."""
    min: Mapped[float | None] = mapped_column(Float)
    avg: Mapped[float | None] = mapped_column(Float)
    max: Mapped[float | None] = mapped_column(Float)
    cou: Mapped[float | None] = mapped_column(Float)
    zs_min: Mapped[float | None] = mapped_column(Float)
    zs_avg: Mapped[float | None] = mapped_column(Float)
    zs_max: Mapped[float | None] = mapped_column(Float)
    flag: Mapped[str | None] = mapped_column(String(4))
    raw_id: Mapped[int | None] = mapped_column(BigInteger)
    """The archived packet the values were read from."""


class RealtimeValue(Base):
    """Real-time values (2011), kept for ``realtime_retention_days``."""

    __tablename__ = "realtime_value"
    __table_args__ = {"postgresql_partition_by": "RANGE (ts)", "sqlite_with_rowid": False}  # noqa: RUF012

    device_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    factor: Mapped[str] = mapped_column(FactorCode, primary_key=True)
    ts: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    rtd: Mapped[float | None] = mapped_column(Float)
    zs_rtd: Mapped[float | None] = mapped_column(Float)
    flag: Mapped[str | None] = mapped_column(String(4))
    eflag: Mapped[str | None] = mapped_column(String(8))
    raw_id: Mapped[int | None] = mapped_column(BigInteger)


class FacilityState(Base):
    """Treatment-facility running state (2021 ``SBx-RS``: 0 off, 1 run, 2 calibration, 3 maintenance,
    4 alarm, 5 blow-back)."""

    __tablename__ = "facility_state"

    device_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    facility: Mapped[str] = mapped_column(String(16), primary_key=True)
    ts: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    state: Mapped[int] = mapped_column(SmallInteger)
    raw_id: Mapped[int | None] = mapped_column(BigInteger)


class FacilityRuntime(Base):
    """Treatment-facility daily run time in hours (2041 ``SBx-RT``)."""

    __tablename__ = "facility_runtime"

    device_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    facility: Mapped[str] = mapped_column(String(16), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    """The China-time day the DataTime opens."""
    hours: Mapped[float] = mapped_column(Float)
    raw_id: Mapped[int | None] = mapped_column(BigInteger)


class InstrumentInfo(Base):
    """Site information (3020 ``i…-Info``): logs, states and parameters. A parameter is stored each
    time its value changes, so its whole history (range, slope, intercept …) is kept."""

    __tablename__ = "instrument_info"
    __table_args__ = (Index("ix_instrument_info_lookup", "device_id", "pol_id", "info", "ts"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    device_id: Mapped[int] = mapped_column(Integer)
    pol_id: Mapped[str] = mapped_column(String(16))
    """The factor the instrument measures (``PolId``), empty for the logger itself."""
    info: Mapped[str] = mapped_column(String(16))
    ts: Mapped[datetime] = mapped_column(UtcDateTime)
    value: Mapped[str] = mapped_column(Text)
    raw_id: Mapped[int | None] = mapped_column(BigInteger)


class LoggerRestart(Base):
    """A data logger's power-on time (2081 ``RestartTime``)."""

    __tablename__ = "logger_restart"

    device_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    restarted_at: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    raw_id: Mapped[int | None] = mapped_column(BigInteger)


class CommandResult(Base):
    """A device's answer to a platform request: 9011 (QnRtn) or 9012 (ExeRtn), by the request's QN."""

    __tablename__ = "command_result"
    __table_args__ = (Index("ix_command_result_request", "device_id", "qn"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    device_id: Mapped[int] = mapped_column(Integer)
    qn: Mapped[str] = mapped_column(String(20))
    cn: Mapped[str] = mapped_column(String(4))
    code: Mapped[int] = mapped_column(SmallInteger)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    raw_id: Mapped[int | None] = mapped_column(BigInteger)


class PowerReading(Base):
    """Electric power (kW) of a production line or treatment facility, from its meter (用电监控)."""

    __tablename__ = "power_reading"
    __table_args__ = {"postgresql_partition_by": "RANGE (ts)", "sqlite_with_rowid": False}  # noqa: RUF012

    meter_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ts: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    kw: Mapped[float] = mapped_column(Float)


class VideoOutage(Base):
    """A window in which a camera was offline (from the video platform)."""

    __tablename__ = "video_outage"
    __table_args__ = (UniqueConstraint("camera_id", "start"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    camera_id: Mapped[int] = mapped_column(Integer, index=True)
    start: Mapped[datetime] = mapped_column(UtcDateTime)
    end: Mapped[datetime] = mapped_column(UtcDateTime)
    source: Mapped[str] = mapped_column(String(256))


class ComparisonTest(Base):
    """A comparison test (比对监测): a reference measurement taken beside the analyser — by the
    operator, a supervisory monitoring station or the bureau — with the online value it is judged
    against (HJ 75 / HJ 355 comparison tests). Rule R17 screens the deviation."""

    __tablename__ = "comparison_test"
    __table_args__ = (UniqueConstraint("device_id", "factor", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    device_id: Mapped[int] = mapped_column(Integer, index=True)
    factor: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    reference: Mapped[float] = mapped_column(Float)
    online: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(256))
    """Who measured it and how (a report number, a station)."""


class ComputedValue(Base):
    """The platform's own hourly and daily values (``offsite.quality``), computed from the stored
    minutes by the validity rules; the devices' 2061/2031 values stay in ``interval_value``."""

    __tablename__ = "computed_value"
    __table_args__ = {"postgresql_partition_by": "RANGE (ts)", "sqlite_with_rowid": False}  # noqa: RUF012

    device_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    factor: Mapped[str] = mapped_column(FactorCode, primary_key=True)
    ts: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    """Start of the hour, or of the China-time day."""
    value: Mapped[float | None] = mapped_column(Float)
    corrected: Mapped[float | None] = mapped_column(Float)
    """At the reference O2, where the outlet has one."""
    standard: Mapped[float | None] = mapped_column(Float)
    """Flue-gas flow at standard state, dry basis (m³/s), where temperature, pressure and moisture
    are measured."""
    load: Mapped[float | None] = mapped_column(Float)
    """The pollutant discharged in the period, kg."""
    bound: Mapped[float | None] = mapped_column(Float)
    """Where over-range (T) readings fell in the period: its mean with them at their reading, a
    lower bound of the true mean (``quality.aggregate._with_bounds``)."""
    bound_corrected: Mapped[float | None] = mapped_column(Float)
    valid: Mapped[bool] = mapped_column(Boolean)
    n_valid: Mapped[int] = mapped_column(SmallInteger)
    """Valid minutes of an hour, valid hours of a day."""
    n_expected: Mapped[int | None] = mapped_column(SmallInteger)
    """Inputs the period should hold at the device's reporting interval (or measuring cycle); the
    period is valid with 75 % of them, rounded up."""


class PendingHour(Base):
    """An hour of a device whose minute values were written since it was last aggregated: new
    data, a late or backfilled minute, or a changed one. The aggregation takes and deletes them."""

    __tablename__ = "pending_hour"

    device_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hour: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    noted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    """When minutes of the hour were last written: the aggregation deletes a row only if this is
    still what it read, so minutes written while it worked are not forgotten."""


PARTITIONED_TABLES = ("interval_value", "realtime_value", "power_reading", "computed_value")
