"""The registered devices, by MN, as the gateway needs them: id, password, CRC variants, version."""

from __future__ import annotations

import time
from dataclasses import dataclass

from cryptography.fernet import Fernet
from sqlalchemy import Engine, select

from offsite.hj212.crc import CrcVariant
from offsite.registry.models import Device
from offsite.registry.passwords import decrypt


@dataclass(frozen=True, slots=True)
class KnownDevice:
    id: int
    mn: str
    password: str
    crc_variants: tuple[CrcVariant, ...]
    version: str


class DeviceDirectory:
    """A cached copy of the registry's active devices, reloaded when an unknown MN calls
    (at most every ``reload_after`` seconds), so a newly registered logger is taken in quickly."""

    def __init__(self, engine: Engine, fernet: Fernet, reload_after: float = 5.0) -> None:
        self.engine = engine
        self.fernet = fernet
        self.reload_after = reload_after
        self._by_mn: dict[str, KnownDevice] = {}
        self._loaded_at = -1e9

    def load(self) -> None:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(Device.id, Device.mn, Device.password_enc, Device.crc_variants, Device.protocol_version).where(
                    Device.active.is_(True)
                )
            ).all()
        by_mn = {}
        for row in rows:
            variants = tuple(CrcVariant(v) for v in row.crc_variants.split(",") if v) or (CrcVariant.HJ212,)
            by_mn[row.mn] = KnownDevice(
                row.id, row.mn, decrypt(self.fernet, row.password_enc), variants, row.protocol_version
            )
        self._by_mn = by_mn
        self._loaded_at = time.monotonic()

    def get(self, mn: str | None) -> KnownDevice | None:
        return self._by_mn.get(mn) if mn else None

    def stale(self) -> bool:
        return time.monotonic() - self._loaded_at >= self.reload_after

    def __len__(self) -> int:
        return len(self._by_mn)
