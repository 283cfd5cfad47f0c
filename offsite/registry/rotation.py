"""Re-encrypting every stored device password under a new key (``offsite keys rotate``)."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Engine, select, update

from offsite.registry.models import Device


class RotationError(ValueError):
    """Some stored passwords open with neither key; nothing was changed."""


@dataclass(frozen=True, slots=True)
class Rotation:
    rotated: int
    """Passwords re-encrypted from the old key to the new one."""
    already: int
    """Passwords that were under the new key already (a rotation run again)."""


def rotate(engine: Engine, old: Fernet, new: Fernet) -> Rotation:
    """Re-encrypt every device password from ``old`` to ``new`` in one transaction: all or nothing."""
    rotated = already = 0
    unreadable: list[str] = []
    with engine.begin() as conn:
        rows = conn.execute(select(Device.id, Device.mn, Device.password_enc).order_by(Device.id)).all()
        for row in rows:
            try:
                plain = old.decrypt(row.password_enc)
            except InvalidToken:
                try:
                    new.decrypt(row.password_enc)
                except InvalidToken:
                    unreadable.append(row.mn)
                else:
                    already += 1
                continue
            conn.execute(update(Device).where(Device.id == row.id).values(password_enc=new.encrypt(plain)))
            rotated += 1
        if unreadable:
            shown = ", ".join(unreadable[:10]) + (f" and {len(unreadable) - 10} more" if len(unreadable) > 10 else "")
            raise RotationError(
                f"{len(unreadable)} device passwords open with neither the old nor the new key "
                f"(MN {shown}); nothing was changed"
            )
    return Rotation(rotated, already)
