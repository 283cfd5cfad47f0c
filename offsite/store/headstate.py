"""A writer's own record of its chain's head, kept outside the database.

The archive writer reads its chain's head from the database when it starts (and after any
error). Without a record of its own, it would adopt whatever it found there: records inserted
by anyone who may write to the table would be chained on and signed into the next checkpoint.
So the writer keeps, in a file of the data directory, the head it left — and, written and
fsynced before each commit, the head that commit will leave — and refuses a database whose head
is neither: records it did not write, records missing, or a record rewritten.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from offsite.db.durable import replace_durably

log = logging.getLogger(__name__)


class ForeignRecords(RuntimeError):
    """The chain in the database is not the one this writer left."""


@dataclass(frozen=True, slots=True)
class _Head:
    seq: int
    hash: bytes


class HeadState:
    def __init__(self, path: Path) -> None:
        self.path = path

    def check(self, writer: str, seq: int, digest: bytes) -> None:
        """Accept the database's head (``seq``, ``digest``) only if this writer left it."""
        known = self._read()
        if known is None:
            if seq:
                log.critical(
                    "no record of chain %s's head at %s: taking the database's (seq %d) as this writer's; "
                    "records written since its last signed checkpoint were not seen by it: check them "
                    "with `offsite archive verify --public-key`",
                    writer,
                    self.path,
                    seq,
                )
            self._write(_Head(seq, digest), None)
            return
        left, intended = known
        if _Head(seq, digest) in (left, intended):
            return
        newest = max(left.seq, intended.seq if intended else 0)
        if seq > newest:
            raise ForeignRecords(
                f"chain {writer} holds records after seq {newest} that this writer did not write (the database's "
                f"chain ends at seq {seq}): not appending; check it with `offsite archive verify`"
            )
        if seq < left.seq:
            raise ForeignRecords(
                f"records of chain {writer} are missing: the database's chain ends at seq {seq}, this writer "
                f"wrote up to seq {left.seq}: not appending; check it with `offsite archive verify`"
            )
        raise ForeignRecords(
            f"chain {writer} was rewritten: its record at seq {seq} is not the one this writer wrote: not "
            "appending; check it with `offsite archive verify`"
        )

    def intend(self, left: tuple[int, bytes], next_head: tuple[int, bytes]) -> None:
        """Before a commit: the head now, and the head once it has committed (fsynced)."""
        self._write(_Head(*left), _Head(*next_head))

    def _read(self) -> tuple[_Head, _Head | None] | None:
        try:
            document = json.loads(self.path.read_text(encoding="ascii"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ForeignRecords(f"the head record {self.path} cannot be read ({exc}): not appending") from exc
        left = _Head(int(document["seq"]), bytes.fromhex(document["hash"]))
        intended = document.get("next")
        return left, (_Head(int(intended["seq"]), bytes.fromhex(intended["hash"])) if intended else None)

    def _write(self, left: _Head, intended: _Head | None) -> None:
        document = {"seq": left.seq, "hash": left.hash.hex()}
        if intended is not None:
            document["next"] = {"seq": intended.seq, "hash": intended.hash.hex()}
        replace_durably(self.path, json.dumps(document).encode("ascii"))
