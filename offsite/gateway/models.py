"""The gateway's tables: unknown callers, device presence, and how far projection has got."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from offsite.db import Base, UtcDateTime


class UnknownDevice(Base):
    """An MN that calls but is not registered (a new logger usually calls before it is registered)."""

    __tablename__ = "unknown_device"

    mn: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    packets: Mapped[int] = mapped_column(Integer)
    last_peer: Mapped[str] = mapped_column(String(64))
    last_reason: Mapped[str] = mapped_column(String(24))
    """``unknown_mn``, or ``bad_password`` when the MN is known but the PW does not match."""


class DeviceStatus(Base):
    """A device's current presence: online, offline, or never seen (no row)."""

    __tablename__ = "device_status"

    device_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(8))
    since: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    peer: Mapped[str | None] = mapped_column(String(64))


class DeviceStatusChange(Base):
    """Every change of presence; networking and transmission rates are computed from these."""

    __tablename__ = "device_status_change"
    __table_args__ = (Index("ix_device_status_change_device", "device_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    device_id: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(8))


class ProjectionMark(Base):
    """The last archive record of a chain whose values are in the store."""

    __tablename__ = "projection_mark"

    writer: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)


class ProjectionFailure(Base):
    """An archived packet whose values could not be projected (kept, with why, for a later fix)."""

    __tablename__ = "projection_failure"

    raw_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    error: Mapped[str] = mapped_column(Text)


class PlatformCommand(Base):
    """A request the platform sent to a device (1012 set time, 2051/2061 backfill …) and its fate."""

    __tablename__ = "platform_command"
    __table_args__ = (Index("ix_platform_command_device", "device_id", "sent_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    device_id: Mapped[int] = mapped_column(Integer)
    qn: Mapped[str] = mapped_column(String(20))
    cn: Mapped[str] = mapped_column(String(4))
    cp: Mapped[str] = mapped_column(Text)
    """The request's parameters as sent (``SystemTime=…``, ``BeginTime=…;EndTime=…``)."""
    reason: Mapped[str] = mapped_column(String(256))
    sent_at: Mapped[datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(12))
    """sent, accepted (9011 QnRtn=1), rejected, done (9012 ExeRtn=1), failed, no_data, timeout."""
    qn_rtn: Mapped[int | None] = mapped_column(Integer)
    exe_rtn: Mapped[int | None] = mapped_column(Integer)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ArchiveWriter(Base):
    """Where each archive chain's writer keeps its spool, so that a gateway started with another
    data directory cannot silently miss packets it acknowledged from the spool."""

    __tablename__ = "archive_writer"

    writer: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    spool_dir: Mapped[str] = mapped_column(Text)
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
