"""Tables of the base database (重点排污单位自动监控与基础数据库)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from offsite.db import Base, UtcDateTime

REGION_LEVELS = ("province", "city", "county")
SUPERVISION_LEVELS = ("national", "provincial", "city")  # 国控 / 省控 / 市控
UNIT_STATUSES = ("producing", "stopped", "closed")
MEDIA = ("gas", "water")
LIMIT_BASES = ("measured", "corrected")
LIMIT_PERIODS = ("hour", "day")
FLOW_BASES = ("actual_wet", "standard_dry")
"""How a device's flow (a00000) is reported: at flue conditions, or already at standard state, dry."""
FLOW_UNITS = ("m3/s", "m3/h", "L/s")
PERMIT_PERIODS = ("year", "month", "day")
CONTACT_ROLES = ("province_officer", "city_officer", "county_officer", "enterprise_responsible", "operator")
CHANNELS = ("sms", "email", "webhook")
CAMERA_TARGETS = ("outlet", "station_room", "treatment_facility")
METER_TARGETS = ("production", "treatment")


def _in(column: str, values: tuple[str, ...]) -> CheckConstraint:
    quoted = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({quoted})", name=f"{column}_allowed")


class Region(Base):
    """A GB/T 2260 division: province, city or county (district, county-level city)."""

    __tablename__ = "region"
    __table_args__ = (_in("level", REGION_LEVELS),)

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(8))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"), index=True)


class Unit(Base):
    """A key discharge unit (重点排污单位)."""

    __tablename__ = "unit"
    __table_args__ = (
        _in("supervision_level", SUPERVISION_LEVELS),
        _in("status", UNIT_STATUSES),
        CheckConstraint("lat IS NULL OR (lat BETWEEN -90 AND 90)", name="lat_range"),
        CheckConstraint("lon IS NULL OR (lon BETWEEN -180 AND 180)", name="lon_range"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    """Unified social credit code (统一社会信用代码, GB 32100)."""
    name: Mapped[str] = mapped_column(String(128))
    industry_code: Mapped[str] = mapped_column(String(5))
    """GB/T 4754 industry class, e.g. C3011 cement."""
    region_code: Mapped[str] = mapped_column(ForeignKey("region.code"), index=True)
    """The county-level division the unit is supervised by."""
    park: Mapped[str | None] = mapped_column(String(128))
    address: Mapped[str | None] = mapped_column(String(256))
    lon: Mapped[float | None] = mapped_column(Float)
    """WGS-84."""
    lat: Mapped[float | None] = mapped_column(Float)
    supervision_level: Mapped[str] = mapped_column(String(12), default="provincial")
    status: Mapped[str] = mapped_column(String(10), default="producing")

    outlets: Mapped[list[Outlet]] = relationship(back_populates="unit", cascade="all, delete-orphan")


class Outlet(Base):
    """A discharge outlet (排放口): a stack or an outfall."""

    __tablename__ = "outlet"
    __table_args__ = (
        UniqueConstraint("unit_id", "code"),
        _in("medium", MEDIA),
        CheckConstraint("o2_ref IS NULL OR (o2_ref >= 0 AND o2_ref < 21)", name="o2_ref_range"),
        CheckConstraint("area_m2 IS NULL OR area_m2 > 0", name="area_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    """The permit's outlet code, e.g. DA001 (gas) or DW001 (water)."""
    name: Mapped[str] = mapped_column(String(128))
    medium: Mapped[str] = mapped_column(String(5))
    standard: Mapped[str | None] = mapped_column(String(64))
    """Key of the emission standard in the standards table, e.g. GB13223-2011-coal."""
    o2_ref: Mapped[float | None] = mapped_column(Float)
    """Reference O2 (%) the standard corrects to; gas outlets only."""
    area_m2: Mapped[float | None] = mapped_column(Float)
    """Flue cross-section, for flow from velocity; gas outlets only."""

    unit: Mapped[Unit] = relationship(back_populates="outlets")
    devices: Mapped[list[Device]] = relationship(back_populates="outlet")


class Device(Base):
    """A data logger (数采仪) identified by its MN, with the access password it and we both send."""

    __tablename__ = "device"
    __table_args__ = (CheckConstraint("protocol_version IN ('2005', '2017', '2025')", name="version_allowed"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outlet_id: Mapped[int] = mapped_column(ForeignKey("outlet.id", ondelete="CASCADE"), index=True)
    mn: Mapped[str] = mapped_column(String(32), unique=True)
    password_enc: Mapped[bytes] = mapped_column(LargeBinary)
    """The HJ 212 access password, Fernet-encrypted (it must be sent back, so it is not hashed)."""
    protocol_version: Mapped[str] = mapped_column(String(4), default="2017")
    crc_variants: Mapped[str] = mapped_column(String(48), default="hj212")
    """Comma-separated CRC variants accepted from this device (legacy loggers: modbus, modbus-swapped)."""
    factors: Mapped[str] = mapped_column(Text, default="")
    """Comma-separated HJ 212-2017 codes the device monitors."""
    operator: Mapped[str | None] = mapped_column(String(128))
    """O&M company (运维单位)."""
    installed_on: Mapped[date | None] = mapped_column(Date)
    networked_on: Mapped[date | None] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    minute_interval_s: Mapped[int | None] = mapped_column(Integer)
    """Declared spacing of its minute data (2051) in seconds, e.g. 600 for a logger sending every
    10 minutes; none: inferred from the data."""
    flow_basis: Mapped[str | None] = mapped_column(String(12))
    """One of ``FLOW_BASES``; none: actual (flue) conditions, wet."""
    flow_unit: Mapped[str | None] = mapped_column(String(8))
    """One of ``FLOW_UNITS``; none: the code table's unit (m³/s for a00000, L/s for w00000)."""

    outlet: Mapped[Outlet] = relationship(back_populates="devices")


class DeviceMnChange(Base):
    """A logger or analyser replaced: the device keeps its history under its new MN."""

    __tablename__ = "device_mn_change"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id", ondelete="CASCADE"), index=True)
    old_mn: Mapped[str] = mapped_column(String(32), index=True)
    new_mn: Mapped[str] = mapped_column(String(32))
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    reason: Mapped[str | None] = mapped_column(String(256))


class Limit(Base):
    """An emission limit for one outlet and factor, under one standard, for a period of validity."""

    __tablename__ = "outlet_limit"
    __table_args__ = (
        _in("basis", LIMIT_BASES),
        _in("period", LIMIT_PERIODS),
        CheckConstraint(
            "(value IS NULL OR value > 0) AND (value IS NOT NULL OR lower IS NOT NULL)", name="value_positive"
        ),
        Index("ix_outlet_limit_lookup", "outlet_id", "factor", "valid_from"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outlet_id: Mapped[int] = mapped_column(ForeignKey("outlet.id", ondelete="CASCADE"))
    factor: Mapped[str] = mapped_column(String(16))
    standard: Mapped[str] = mapped_column(String(64))
    value: Mapped[float | None] = mapped_column(Float)
    """Upper limit; none where the standard sets only a lower one."""
    lower: Mapped[float | None] = mapped_column(Float)
    """Lower limit where the standard sets a range (pH 6–9)."""
    basis: Mapped[str] = mapped_column(String(9), default="corrected")
    """Whether the limit applies to the measured or the reference-O2-corrected (折算) value."""
    period: Mapped[str] = mapped_column(String(4), default="day")
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(256))
    """Where the number comes from (permit number, standard table …)."""


class PermitCap(Base):
    """A discharge permit's cap on the mass a unit (or one outlet) may discharge of one factor in a
    year, month or day (许可排放量), for a period of validity."""

    __tablename__ = "permit_cap"
    __table_args__ = (
        _in("period", PERMIT_PERIODS),
        CheckConstraint("amount_kg > 0", name="amount_positive"),
        Index("ix_permit_cap_lookup", "unit_id", "factor", "valid_from"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"))
    outlet_id: Mapped[int | None] = mapped_column(ForeignKey("outlet.id", ondelete="CASCADE"))
    """The outlet the cap is set for; none when it caps the whole unit."""
    factor: Mapped[str] = mapped_column(String(16))
    period: Mapped[str] = mapped_column(String(5))
    amount_kg: Mapped[float] = mapped_column(Float)
    permit_no: Mapped[str] = mapped_column(String(64))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)


class Contact(Base):
    """A person alarms and orders are routed to."""

    __tablename__ = "contact"
    __table_args__ = (_in("role", CONTACT_ROLES), _in("channel", CHANNELS))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(24))
    phone: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(8), default="sms")
    region_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"), index=True)


class Camera(Base):
    """A video camera (视频监控) and what it watches."""

    __tablename__ = "camera"
    __table_args__ = (_in("target", CAMERA_TARGETS), UniqueConstraint("platform", "channel_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"), index=True)
    outlet_id: Mapped[int | None] = mapped_column(ForeignKey("outlet.id", ondelete="SET NULL"))
    target: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(128))
    platform: Mapped[str] = mapped_column(String(64))
    channel_id: Mapped[str] = mapped_column(String(64))


class PowerMeter(Base):
    """An electricity meter (用电监控) on a production line or a treatment facility."""

    __tablename__ = "power_meter"
    __table_args__ = (_in("target", METER_TARGETS), CheckConstraint("rated_kw > 0", name="rated_positive"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    target: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(128))
    rated_kw: Mapped[float] = mapped_column(Float)


class RegistryChange(Base):
    """History of every change to a registry row, with the file or user that made it."""

    __tablename__ = "registry_change"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    table_name: Mapped[str] = mapped_column(String(32))
    row_key: Mapped[str] = mapped_column(String(64), index=True)
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    before: Mapped[dict[str, object] | None] = mapped_column(JSON)
    after: Mapped[dict[str, object] | None] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(256))
