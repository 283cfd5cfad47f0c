"""The deployment's Ed25519 key that signs the archive's checkpoints and published heads.

The private key lives in the data directory (mode 0600), never in the database: whoever owns
the database can rewrite a chain and recompute every hash, but cannot sign the result. The
public key (``offsite archive public-key``) goes to whoever must be able to check the evidence.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from offsite.db.keyfile import KeyFileError, create_private, read_private

log = logging.getLogger(__name__)

KEY_FILE = "archive-signing.key"
"""Its name in the data directory."""


class SigningKeyError(ValueError):
    """The signing key or a public key file cannot be used."""


def fingerprint(public: Ed25519PublicKey) -> str:
    """SHA-256 of the raw public key, first 16 hex digits: printed with every export."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class Signer:
    key: Ed25519PrivateKey

    @property
    def public(self) -> Ed25519PublicKey:
        return self.key.public_key()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public)

    def sign(self, message: bytes) -> bytes:
        return self.key.sign(message)

    def public_pem(self) -> str:
        return self.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")


def signer(data_dir: Path, *, create: bool = False) -> Signer:
    """The deployment's signing key under ``data_dir``; made there only with ``create`` (the
    gateway's first start). Everything else refuses a missing key:
    a second key made by accident on another host would make every checkpoint of the first look
    forged."""
    path = data_dir / KEY_FILE
    if not path.exists():
        if not create:
            raise SigningKeyError(
                f"no archive signing key at {path}: if another data directory signed this database (the "
                "demo's is its --dir, offsite-demo), set OFFSITE_DATA_DIR to it; a new deployment's "
                "gateway makes the key at its first start, and every process that signs must share it"
            )
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        if create_private(path, pem):
            log.warning(
                "made a new archive signing key at %s: publish its public key (offsite archive public-key)", path
            )
    try:
        key = serialization.load_pem_private_key(read_private(path), password=None)
    except KeyFileError as exc:
        raise SigningKeyError(str(exc)) from exc
    except ValueError as exc:
        raise SigningKeyError(f"the signing key {path} is not a PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"the signing key {path} is not an Ed25519 key")
    return Signer(key)


def load_public_key(path: Path) -> Ed25519PublicKey:
    """A public key file as ``offsite archive public-key`` writes it (PEM)."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise SigningKeyError(f"{path} is not a readable PEM public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"{path} is not an Ed25519 public key")
    return key


def verifies(public: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        public.verify(signature, message)
    except InvalidSignature:
        return False
    return True
