"""The registered devices, by MN, as the gateway needs them: id, password, CRC variants, version.

Each load from the registry is also written to a snapshot in the data directory (the passwords
stay encrypted, mode 0600), so that a gateway started while the database is down still knows
its devices, acknowledges them from the spool, and does not reject every logger as unknown.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import Engine, select

from offsite.db.durable import replace_durably
from offsite.hj212.crc import CrcVariant
from offsite.registry.models import Device
from offsite.registry.passwords import PasswordKeyError, decrypt

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class KnownDevice:
    id: int
    mn: str
    password: str
    crc_variants: tuple[CrcVariant, ...]
    version: str


@dataclass(frozen=True, slots=True)
class _Stored:
    """A device as the registry stores it (the password still encrypted)."""

    id: int
    mn: str
    password_enc: bytes
    crc_variants: str
    protocol_version: str


class DeviceDirectory:
    """A cached copy of the registry's active devices, reloaded when an unknown MN calls
    (at most every ``reload_after`` seconds), so a newly registered logger is taken in quickly."""

    def __init__(self, engine: Engine, fernet: Fernet, reload_after: float = 5.0, snapshot: Path | None = None) -> None:
        self.engine = engine
        self.fernet = fernet
        self.reload_after = reload_after
        self.snapshot = snapshot
        self._by_mn: dict[str, KnownDevice] = {}
        self.unreadable: set[str] = set()
        """MNs whose stored password this key cannot open (their packets are rejected as ``key_error``)."""
        self._loaded_at = -1e9

    def load(self) -> None:
        """Read the registry's active devices (and keep a snapshot of them)."""
        with self.engine.connect() as conn:
            rows = [
                _Stored(r.id, r.mn, bytes(r.password_enc), r.crc_variants, r.protocol_version)
                for r in conn.execute(
                    select(
                        Device.id, Device.mn, Device.password_enc, Device.crc_variants, Device.protocol_version
                    ).where(Device.active.is_(True))
                ).all()
            ]
        self._take(rows)
        if self.snapshot is not None:
            _write_snapshot(self.snapshot, rows)

    def load_snapshot(self) -> bool:
        """The devices of the last load, when the registry cannot be read; False without a snapshot."""
        if self.snapshot is None or not self.snapshot.exists():
            return False
        try:
            rows = _read_snapshot(self.snapshot)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error(
                "the device snapshot %s cannot be read (%s); every device is unknown until the database answers",
                self.snapshot,
                exc,
            )
            return False
        self._take(rows)
        return True

    def _take(self, rows: list[_Stored]) -> None:
        by_mn, unreadable = {}, []
        for row in rows:
            try:
                password = decrypt(self.fernet, row.password_enc)
            except PasswordKeyError:
                # one password the key cannot open rejects that device alone, not the others
                unreadable.append(row.mn)
                continue
            variants = tuple(CrcVariant(v) for v in row.crc_variants.split(",") if v) or (CrcVariant.HJ212,)
            by_mn[row.mn] = KnownDevice(row.id, row.mn, password, variants, row.protocol_version)
        if rows and not by_mn:
            raise PasswordKeyError(
                f"not one of the {len(rows)} active devices' passwords opens with this key: it is not the "
                "key they were encrypted with (set OFFSITE_SECRET_KEY_FILE or OFFSITE_DATA_DIR to the right "
                "one, or re-encrypt them with `offsite keys rotate --old-key FILE`)"
            )
        if unreadable and set(unreadable) != self.unreadable:
            log.error(
                "%d device passwords cannot be decrypted with this key; those devices are rejected: MN %s",
                len(unreadable),
                ", ".join(unreadable[:20]),
            )
        self.unreadable = set(unreadable)
        self._by_mn = by_mn
        self._loaded_at = time.monotonic()

    def devices(self) -> list[KnownDevice]:
        return list(self._by_mn.values())

    def get(self, mn: str | None) -> KnownDevice | None:
        return self._by_mn.get(mn) if mn else None

    def stale(self) -> bool:
        return time.monotonic() - self._loaded_at >= self.reload_after

    def __len__(self) -> int:
        return len(self._by_mn)


def _write_snapshot(path: Path, rows: list[_Stored]) -> None:
    items = [
        {
            "id": r.id,
            "mn": r.mn,
            "password_enc": base64.b64encode(r.password_enc).decode("ascii"),
            "crc_variants": r.crc_variants,
            "protocol_version": r.protocol_version,
        }
        for r in rows
    ]
    replace_durably(path, json.dumps({"format": 1, "devices": items}).encode("utf-8"))


def _read_snapshot(path: Path) -> list[_Stored]:
    document: Any = json.loads(path.read_text(encoding="utf-8"))
    return [
        _Stored(
            int(d["id"]),
            str(d["mn"]),
            base64.b64decode(d["password_enc"]),
            str(d["crc_variants"]),
            str(d["protocol_version"]),
        )
        for d in document["devices"]
    ]
