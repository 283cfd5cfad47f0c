"""The local spool: where packets go, fsynced, while the database is unreachable.

A device is acknowledged once its packet is durable; with the database down, durable means
written and fsynced here. The spool is replayed into the archive, in order, when the database
answers again. Records are length-prefixed (a JSON header, then the packet's bytes); a torn
last record (power lost mid-write) is detected and left out, since it was never acknowledged.
A replay progress file lets a replay interrupted by a crash resume without re-archiving what
it had committed, except for at most the batch in flight.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from offsite.store.archive import Incoming

_LEN = struct.Struct(">I")


@dataclass(frozen=True, slots=True)
class Spooled:
    incoming: Incoming
    device_id: int | None


class Spool:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / "spool.bin"
        self.progress = directory / "spool.replayed"

    def append(self, records: list[Spooled]) -> None:
        """Write and fsync: when this returns, the records survive a crash or power loss."""
        self.directory.mkdir(parents=True, exist_ok=True)
        chunks = []
        for record in records:
            packet = record.incoming
            header = json.dumps(
                {
                    "peer": packet.peer,
                    "received_at": packet.received_at.isoformat(),
                    "outcome": packet.outcome,
                    "error": packet.error,
                    "mn": packet.mn,
                    "cn": packet.cn,
                    "qn": packet.qn,
                    "device_id": record.device_id,
                }
            ).encode()
            chunks += [_LEN.pack(len(header)), header, _LEN.pack(len(packet.data)), packet.data]
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, b"".join(chunks))
            os.fsync(fd)
        finally:
            os.close(fd)
        _fsync_dir(self.directory)

    def read(self) -> list[Spooled]:
        """The records not yet replayed, in the order they were spooled."""
        if not self.path.exists():
            return []
        data = self.path.read_bytes()
        records, pos = [], 0
        while pos + 4 <= len(data):
            (size,) = _LEN.unpack_from(data, pos)
            header_end = pos + 4 + size
            if header_end + 4 > len(data):
                break
            (data_size,) = _LEN.unpack_from(data, header_end)
            end = header_end + 4 + data_size
            if end > len(data):
                break  # torn write: never acknowledged
            header = json.loads(data[pos + 4 : header_end])
            incoming = Incoming(
                data=data[header_end + 4 : end],
                peer=header["peer"],
                received_at=datetime.fromisoformat(header["received_at"]),
                outcome=header["outcome"],
                error=header["error"],
                mn=header["mn"],
                cn=header["cn"],
                qn=header["qn"],
            )
            records.append(Spooled(incoming, header["device_id"]))
            pos = end
        return records[self.replayed() :]

    def replayed(self) -> int:
        try:
            return int(self.progress.read_text())
        except (OSError, ValueError):
            return 0

    def mark_replayed(self, count: int) -> None:
        """Record that the first ``count`` records are in the archive."""
        tmp = self.progress.with_suffix(".tmp")
        tmp.write_text(str(count))
        os.replace(tmp, self.progress)

    def clear(self) -> None:
        """Everything is in the archive: start an empty spool."""
        for path in (self.path, self.progress):
            path.unlink(missing_ok=True)
        if self.directory.exists():
            _fsync_dir(self.directory)

    def __len__(self) -> int:
        return len(self.read())


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
