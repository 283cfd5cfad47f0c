"""Chain heads, signed for publishing outside the platform (``offsite archive heads``).

A published head pins a chain's newest record where the database's owner cannot reach it: a
file on another machine, a witness's mailbox, a webhook. Signed with the deployment's key, a
heads file proves itself: ``offsite archive verify --heads FILE --public-key FILE`` checks each
signature, then that each head is still in its chain with the same hash.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, Engine, select, text

from offsite.db.base import to_micros
from offsite.store.archive import framed, signed_by
from offsite.store.models import ArchiveCheckpoint, RawPacket
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
        """What the signature covers: every field but the signature, each framed (no field can
        bleed into the next), times as microseconds since the epoch."""
        signed = None if self.signed_at is None else to_micros(self.signed_at)
        return framed(
            "offsite-head-v2", self.writer, self.seq, self.hash, to_micros(self.received_at), signed, self.key
        )

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
    """The last record of every chain: the chains' names, then each chain's newest record, each
    read from the (writer, seq) index without touching the rest of the archive."""
    found = []
    with engine.connect() as conn:
        for writer in chain_writers(conn):
            row = conn.execute(
                select(RawPacket.writer, RawPacket.seq, RawPacket.hash, RawPacket.received_at)
                .where(RawPacket.writer == writer)
                .order_by(RawPacket.seq.desc())
                .limit(1)
            ).one()
            found.append(Head(row.writer, row.seq, bytes(row.hash).hex(), row.received_at))
    return found


_SKIP_SCAN = text(
    """
    WITH RECURSIVE chain(writer) AS (
        SELECT min(writer) FROM raw_packet
        UNION ALL
        SELECT (SELECT min(r.writer) FROM raw_packet r WHERE r.writer > chain.writer)
        FROM chain WHERE chain.writer IS NOT NULL
    )
    SELECT writer FROM chain WHERE writer IS NOT NULL ORDER BY writer
    """
)
"""One probe of the (writer, seq) index per chain (a "loose index scan"): a GROUP BY or a DISTINCT
reads every entry of it, millions at a province's scale, for a few dozen names."""


def chain_writers(conn: Connection) -> list[str]:
    """The names of the archive's chains, in order, each read from the (writer, seq) index."""
    return [str(w) for w in conn.scalars(_SKIP_SCAN)]


def signed_heads(engine: Engine, signer: Signer, at: datetime) -> list[Head]:
    """Each chain's newest checkpoint that carries this deployment's signature, signed again as a
    head to publish. Never the newest record as the database holds it: a record someone inserted
    there would be signed too. The gateway checkpoints at least every
    ``OFFSITE_ARCHIVE_CHECKPOINT_SECONDS``, so what is published trails by no more than that."""
    found = []
    with engine.connect() as conn:
        for writer in chain_writers(conn):
            rows = conn.execute(
                select(*ArchiveCheckpoint.__table__.c)
                .where(ArchiveCheckpoint.writer == writer)
                .order_by(ArchiveCheckpoint.seq.desc())
                .limit(_CHECKPOINTS_LOOKED_AT)
            )
            attested = next((row for row in rows if signed_by(row, signer)), None)
            if attested is not None:
                found.append(Head(writer, attested.seq, bytes(attested.hash).hex(), attested.created_at))
    return [head.signed(signer, at) for head in found]


_CHECKPOINTS_LOOKED_AT = 100
"""Newest checkpoints of a chain looked at for one this key signed (forged unsigned rows on top
of the chain must not hide the real ones)."""


def parse_heads(lines: Sequence[str], source: str) -> list[Head]:
    """Heads from JSON lines; a line that is not one is refused with its number."""
    found = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            found.append(_head(json.loads(line)))
        except KeyError as exc:
            raise HeadsFileError(f"{source}, line {number}: not a head (no {exc})") from exc
        except (ValueError, TypeError, AttributeError) as exc:
            raise HeadsFileError(f"{source}, line {number}: not a head ({exc})") from exc
    return found


_HASH = re.compile(r"[0-9a-f]{64}")


def _head(item: Any) -> Head:
    if not isinstance(item, dict):
        raise ValueError("not a JSON object")
    writer, seq, digest, key, signature = (
        item["writer"],
        item["seq"],
        item["hash"],
        item.get("key"),
        item.get("signature"),
    )
    if not isinstance(writer, str):
        raise ValueError(f"writer {writer!r} is not text")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise ValueError(f"seq {seq!r} is not a whole number of 1 or more")
    if not isinstance(digest, str) or _HASH.fullmatch(digest) is None:
        raise ValueError(f"hash {digest!r} is not 64 lowercase hex digits")
    if key is not None and not isinstance(key, str):
        raise ValueError(f"key {key!r} is not text")
    if signature is not None and not isinstance(signature, str):
        raise ValueError(f"signature {signature!r} is not base64 text")
    return Head(
        writer=writer,
        seq=seq,
        hash=digest,
        received_at=_instant(item["received_at"], "received_at"),
        signed_at=None if item.get("signed_at") is None else _instant(item["signed_at"], "signed_at"),
        key=key,
        signature=base64.b64decode(signature, validate=True) if signature else None,
    )


def _instant(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"{name} {value!r} is not an ISO 8601 time")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name} {value!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise ValueError(f"{name} {value!r} has no time zone")
    return moment
