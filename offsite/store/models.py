"""Tables of the store. The value tables are partitioned by month on PostgreSQL (see partitions.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, Index, Integer, LargeBinary, SmallInteger, String, Text, UniqueConstraint
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
    mn: Mapped[str | None] = mapped_column(String(32))
    cn: Mapped[str | None] = mapped_column(String(4))
    qn: Mapped[str | None] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(24))
    """``ok``, or the codec error code (``crc_mismatch`` …), or the gateway's reason (``unknown_mn`` …)."""
    error: Mapped[str | None] = mapped_column(Text)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class ArchiveCheckpoint(Base):
    """A chain's head at a point in time; published heads let even a rewritten chain be caught."""

    __tablename__ = "archive_checkpoint"

    writer: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


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


PARTITIONED_TABLES = ("interval_value", "realtime_value")
