"""What one connection sent that is not archived frame by frame: counted, hashed, kept in part.

A connection's first rejected frames are archived one by one, each with its reason. After that
(``gateway_junk_archived``, or sooner once its address has spent its junk budget over all its
connections, ``guard.AddressGuard``), and for whatever follows in a read once the connection
reached its rejection cap, frames are folded into one summary instead: how many, how many
bytes, the SHA-256 of all their bytes in order, their outcomes and MNs, and the first bytes
themselves. The summary is archived as one ``junk_summary`` record when the connection closes,
so that a flood of junk or of password guesses costs a bounded number of permanent rows and is
still on the record.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import datetime

from offsite.hj212.decoder import peek_header
from offsite.hj212.frame import FrameFault
from offsite.hj212.packet import Decoded
from offsite.store.archive import Incoming

HEAD = 512
"""Bytes of the junk kept verbatim in the summary record."""

_MNS_NAMED = 5
"""Distinct MNs the summary names (a guesser may try many)."""

NOT_JUDGED = "not_judged"
"""The outcome counted for frames that came after the rejection cap and were not looked at."""


class JunkSummary:
    def __init__(self) -> None:
        self.count = 0
        self.size = 0
        self.head = bytearray()
        self.outcomes: Counter[str] = Counter()
        self.mns: list[str] = []
        self._more_mns = False
        self._hash = hashlib.sha256()
        self.unparsed = 0
        """Bytes received after the cap and never split into frames (``add_unparsed``)."""

    def add(self, data: bytes, outcome: str, mn: str | None) -> None:
        """One frame, judged (``outcome`` its reason) or not (``NOT_JUDGED``)."""
        self.count += 1
        self.size += len(data)
        self._hash.update(data)
        if len(self.head) < HEAD:
            self.head += data[: HEAD - len(self.head)]
        self.outcomes[outcome] += 1
        if mn and mn not in self.mns:
            if len(self.mns) < _MNS_NAMED:
                self.mns.append(mn)
            else:
                self._more_mns = True

    def add_unjudged(self, items: list[Decoded | FrameFault]) -> None:
        """Frames received after the connection reached its rejection cap: counted, not judged."""
        for item in items:
            if isinstance(item, FrameFault):
                raw = item.raw
                mn = peek_header(raw[6:]).get("MN") if raw.startswith(b"##") else None
            else:
                raw, mn = item.frame.raw, item.packet.mn
            self.add(raw, NOT_JUDGED, mn)

    def add_unparsed(self, data: bytes) -> None:
        """Bytes after the rejection cap that were not even split into frames: hashed and counted."""
        self.unparsed += len(data)
        self.size += len(data)
        self._hash.update(data)
        if len(self.head) < HEAD:
            self.head += data[: HEAD - len(self.head)]

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def incoming(self, peer: str, received_at: datetime) -> Incoming:
        """The one archive record for all of it."""
        outcomes = ", ".join(f"{name} {n}" for name, n in self.outcomes.most_common())
        mns = ", ".join(repr(mn[:40]) for mn in self.mns) + (" …" if self._more_mns else "")
        error = (
            f"{self.count} frames ({self.size} bytes) from this connection not archived one by one "
            f"({outcomes})"
            + (f", the last {self.unparsed} bytes not even split into frames" if self.unparsed else "")
            + f"; sha256 of their bytes in order {self.sha256}"
            + (f"; MN {mns}" if mns else "")
            + f"; data holds their first {len(self.head)} bytes"
        )
        return Incoming(
            data=bytes(self.head),
            peer=peer,
            received_at=received_at,
            outcome="junk_summary",
            error=error,
        )
