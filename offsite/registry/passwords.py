"""Device access passwords, encrypted at rest.

The HJ 212 PW is a shared secret the platform itself sends in its requests, so it must be
recoverable: it is encrypted with a Fernet key from the settings, never hashed.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from offsite.settings import Settings


class PasswordKeyError(ValueError):
    """The key is missing, malformed, or not the one the passwords were encrypted with."""


def cipher(settings: Settings) -> Fernet:
    """The cipher for device passwords: ``OFFSITE_SECRET_KEY``, else a key file made once (0600)."""
    key = settings.secret_key or _key_from_file(settings.secret_key_file)
    try:
        return Fernet(key)
    except ValueError as exc:
        raise PasswordKeyError(f"the device-password key is not a Fernet key: {exc}") from exc


def encrypt(fernet: Fernet, password: str) -> bytes:
    return fernet.encrypt(password.encode("utf-8"))


def decrypt(fernet: Fernet, token: bytes) -> str:
    try:
        return fernet.decrypt(token).decode("utf-8")
    except InvalidToken as exc:
        raise PasswordKeyError("a device password cannot be decrypted with this key") from exc


def _key_from_file(path: Path) -> str:
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    key = Fernet.generate_key().decode("ascii")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key + "\n")
    return key
