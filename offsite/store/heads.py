"""Chain heads, signed for publishing outside the platform (``offsite archive heads``).

A published head pins a chain's newest record where the database's owner cannot reach it: a
file on another machine, a witness's mailbox, a webhook. Signed with the deployment's key, a
heads file proves itself: ``offsite archive verify --heads FILE --public-key FILE`` checks each
signature, then that each head is still in its chain with the same hash.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Engine, func, select

from offsite.store.models import RawPacket
from offsite.store.signing import Signer, verifies


class HeadsFileError(ValueError):
    """A heads file line that is not a head; the message names the line."""


@dataclass(frozen=True, slots=True)
class Head:
    writer: str
    seq: int
    hash: str
    received_at: datetime
    signed_at: datetime | None = None
    key: str | None = None
    """Fingerprint of the key that signed it."""
    signature: bytes | None = None

    def message(self) -> bytes:
        """What the signature covers."""
        signed = self.signed_at.isoformat() if self.signed_at else ""
        return (
            f"offsite-head-v1\n{self.writer}\n{self.seq}\n{self.hash}\n{self.received_at.isoformat()}\n"
            f"{signed}\n{self.key or ''}\n"
        ).encode()

    def signed(self, signer: Signer, at: datetime) -> Head:
        unsigned = replace(self, signed_at=at, key=signer.fingerprint, signature=None)
        return replace(unsigned, signature=signer.sign(unsigned.message()))

    def verifies_with(self, public: Ed25519PublicKey) -> bool:
        return self.signature is not None and verifies(public, self.signature, self.message())

    def as_json(self) -> str:
        entry: dict[str, Any] = {
            "writer": self.writer,
            "seq": self.seq,
            "hash": self.hash,
            "received_at": self.received_at.isoformat(),
        }
        if self.signature is not None and self.signed_at is not None:
            entry |= {
                "signed_at": self.signed_at.isoformat(),
                "key": self.key,
                "signature": base64.b64encode(self.signature).decode("ascii"),
            }
        return json.dumps(entry)


def heads(engine: Engine) -> list[Head]:
    """The last record of every chain."""
    with engine.connect() as conn:
        last = select(RawPacket.writer, func.max(RawPacket.seq).label("seq")).group_by(RawPacket.writer).subquery()
        rows = conn.execute(
            select(RawPacket.writer, RawPacket.seq, RawPacket.hash, RawPacket.received_at)
            .join(last, (RawPacket.writer == last.c.writer) & (RawPacket.seq == last.c.seq))
            .order_by(RawPacket.writer)
        ).all()
    return [Head(r.writer, r.seq, bytes(r.hash).hex(), r.received_at) for r in rows]


def signed_heads(engine: Engine, signer: Signer, at: datetime) -> list[Head]:
    return [head.signed(signer, at) for head in heads(engine)]


def parse_heads(lines: Sequence[str], source: str) -> list[Head]:
    """Heads from JSON lines; a line that is not one is refused with its number."""
    found = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            signature = item.get("signature")
            found.append(
                Head(
                    writer=str(item["writer"]),
                    seq=int(item["seq"]),
                    hash=str(item["hash"]),
                    received_at=datetime.fromisoformat(item["received_at"]),
                    signed_at=datetime.fromisoformat(item["signed_at"]) if item.get("signed_at") else None,
                    key=item.get("key"),
                    signature=base64.b64decode(signature, validate=True) if signature else None,
                )
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise HeadsFileError(f"{source}, line {number}: not a head ({type(exc).__name__}: {exc})") from exc
    return found
