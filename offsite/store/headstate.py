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
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
        self._fd: int | None = None
        self._counter = 0

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
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ForeignRecords(f"the head record {self.path} cannot be read ({exc}): not appending") from exc
        slots = [_slot(data[i : i + _SLOT]) for i in (0, _SLOT)]
        valid = [slot for slot in slots if slot is not None]
        if not valid:
            raise ForeignRecords(f"the head record {self.path} cannot be read (no intact slot): not appending")
        _, document = max(valid, key=lambda slot: slot[0])
        self._counter = max(slot[0] for slot in valid)
        left = _Head(int(document["seq"]), bytes.fromhex(document["hash"]))
        intended = document.get("next")
        return left, (_Head(int(intended["seq"]), bytes.fromhex(intended["hash"])) if intended else None)

    def _write(self, left: _Head, intended: _Head | None) -> None:
        # two slots written in turn, each with its counter and checksum, so one fdatasync of an
        # overwrite suffices (the gateway does this before every commit): a write torn by a
        # power cut leaves the other slot, the head before it, intact
        document: dict[str, Any] = {"seq": left.seq, "hash": left.hash.hex()}
        if intended is not None:
            document["next"] = {"seq": intended.seq, "hash": intended.hash.hex()}
        if self._fd is None:
            if not self.path.exists():
                replace_durably(self.path, bytes(2 * _SLOT))
            self._fd = os.open(self.path, os.O_RDWR)
        self._counter += 1
        body = json.dumps(document, separators=(",", ":")).encode("ascii")
        record = _MAGIC + self._counter.to_bytes(8, "big") + len(body).to_bytes(2, "big") + body
        record = record.ljust(_SLOT - 4, b"\0")
        record += zlib.crc32(record).to_bytes(4, "big")
        os.pwrite(self._fd, record, (self._counter % 2) * _SLOT)
        os.fdatasync(self._fd)


_SLOT = 256
_MAGIC = b"OFHS"


def _slot(raw: bytes) -> tuple[int, dict[str, Any]] | None:
    """A slot's counter and document, or None if it is empty or torn."""
    if len(raw) != _SLOT or not raw.startswith(_MAGIC):
        return None
    if zlib.crc32(raw[:-4]) != int.from_bytes(raw[-4:], "big"):
        return None
    size = int.from_bytes(raw[12:14], "big")
    try:
        return int.from_bytes(raw[4:12], "big"), json.loads(raw[14 : 14 + size])
    except ValueError:
        return None
