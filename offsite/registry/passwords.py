"""Device access passwords, encrypted at rest, and the key that encrypts them.

The HJ 212 PW is a shared secret the platform itself sends in its requests, so it must be
recoverable: it is encrypted with a Fernet key, never hashed. The key is ``OFFSITE_SECRET_KEY``
or a key file made at first use under the data directory with mode 0600; a key file that
anyone but its owner may read is refused, since whoever reads it can answer for every device.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from offsite.db.keyfile import KeyFileError, create_private, read_private
from offsite.settings import Settings


class PasswordKeyError(ValueError):
    """The key is missing, unreadable, too widely readable, malformed, or not the one the
    passwords were encrypted with."""


@dataclass(frozen=True, slots=True)
class KeySource:
    """Where the key in use came from, for people: the file (or the environment) and a fingerprint."""

    where: str
    fingerprint: str

    def __str__(self) -> str:
        return f"{self.where} (fingerprint {self.fingerprint})"


def cipher(settings: Settings) -> Fernet:
    """The cipher for device passwords: ``OFFSITE_SECRET_KEY``, else the key file (made once, 0600)."""
    return _fernet(_key(settings))


def key_source(settings: Settings) -> KeySource:
    """Which key is in use, without printing it."""
    key = _key(settings)
    where = "OFFSITE_SECRET_KEY" if settings.secret_key else str(settings.key_file)
    return KeySource(where, fingerprint(key))


def fingerprint(key: str) -> str:
    """A short digest that tells two keys apart and reveals nothing of either."""
    return hashlib.sha256(key.strip().encode("ascii", errors="replace")).hexdigest()[:16]


def cipher_from_file(path: Path) -> Fernet:
    """The cipher of an existing key file being retired (``offsite keys rotate --old-key``):
    read even when others could read it — that is why it is being retired; never creates one."""
    return _fernet(read_key_file(path, exposed_ok=True))


def encrypt(fernet: Fernet, password: str) -> bytes:
    return fernet.encrypt(password.encode("utf-8"))


def decrypt(fernet: Fernet, token: bytes) -> str:
    try:
        return fernet.decrypt(token).decode("utf-8")
    except InvalidToken as exc:
        raise PasswordKeyError("a device password cannot be decrypted with this key") from exc


def _key(settings: Settings) -> str:
    if settings.secret_key:
        return settings.secret_key
    path = settings.key_file
    if path.exists():
        return read_key_file(path)
    return _make_key_file(path)


def _fernet(key: str) -> Fernet:
    try:
        return Fernet(key)
    except ValueError as exc:
        raise PasswordKeyError(f"the device-password key is not a Fernet key: {exc}") from exc


def read_key_file(path: Path, *, exposed_ok: bool = False) -> str:
    """A key file's key, once it is known to be readable by its owner alone (or ``exposed_ok``)."""
    try:
        return read_private(path, exposed_ok=exposed_ok).decode("ascii").strip()
    except KeyFileError as exc:
        raise PasswordKeyError(f"{exc} (rotate a device-password key with `offsite keys rotate --old-key`)") from exc
    except UnicodeDecodeError as exc:
        raise PasswordKeyError(f"the key file {path} is not a Fernet key: {exc}") from exc


def _make_key_file(path: Path) -> str:
    key = Fernet.generate_key().decode("ascii")
    try:
        made = create_private(path, (key + "\n").encode("ascii"))
    except KeyFileError as exc:
        raise PasswordKeyError(str(exc)) from exc
    return key if made else read_key_file(path)  # another process made it first
