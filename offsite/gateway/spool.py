"""The local spool: where packets go, fsynced, while the database is unreachable.

A device is acknowledged once its packet is durable; with the database down, durable means
written and fsynced here. The spool is replayed into the archive, in order, when the database
answers again.

File format (``spool.bin``)
    A 28-byte file header: ``OFSPOOL`` + a version byte (2), a random 16-byte spool id, and a
    CRC32 of those 24 bytes. The file is created whole (written to a temporary file, fsynced,
    renamed, directory fsynced), so a spool never has half a header.

    Then one frame per record: a 4-byte marker, the payload's length (4 bytes, big-endian), an
    8-byte BLAKE2b digest of length and payload keyed with the spool id, then the payload (the
    JSON header's length, the JSON header, the packet's bytes). The digest detects a torn or
    corrupted record exactly; keyed with the spool's own random id, it also means a device
    cannot craft packet bytes that would pass for a frame of their own when a damaged spool is
    resynchronised on the marker.

Opening a spool (the constructor) scans the file once and keeps only the records' offsets
(8 bytes each) and the replay position in memory; ``read``, ``__len__`` and ``append`` never
parse the file again. What the scan does with bytes that are not a whole, verified record:
- a **torn tail** (power lost during an append: that write was never fsynced, so nothing in it
  was acknowledged) is cut off with ``ftruncate`` + fsync, so that records appended after the
  restart follow the last whole record and are never swallowed by the torn one. Whole frames
  of that interrupted write that do verify are kept (replayed; the device resends the packet
  it got no ack for, the archive keeps both). A torn frame of 16 bytes or more that is not all
  zeros is first copied to ``spool.bin.torn-<UTC time>-<spool id>-<offset>``, since a damaged
  length field in the last record would look the same;
- **damaged bytes in the middle** (a frame whose digest does not match, followed by a valid
  frame) never drop what follows: the scan resynchronises on the next marker whose frame
  verifies and keeps every record from there. The bad bytes are copied, fsynced, to
  ``spool.bin.corrupt-<UTC time>-<spool id>-<offset>`` beside the spool (once per spool and
  offset: reopening finds them again and logs them again but does not copy them again),
  logged at error level and counted in ``Spool.damaged``; the record(s) they held are not
  replayed, an operator has to look at the copy. The spool file itself is not rewritten, so
  the byte offsets the replay progress refers to never move; the damaged bytes go when the
  replayed spool is cleared;
- damaged bytes at the very end (no valid frame after them, not shorter than their length
  field says) are copied aside and counted the same way, then cut off like a torn tail;
  all-zero bytes (what a torn write leaves on some file systems) are just cut off;
- a file header that does not verify: the whole file is moved aside to
  ``spool.bin.corrupt-<UTC time>-header`` and a new spool is started, never appending to a
  spool whose records cannot be checked.

Replay progress (``spool.replayed``) records the spool id and the byte offset of the first
record not yet in the archive; it is written to a temporary file, fsynced, renamed and the
directory fsynced, so it survives power loss. A progress file that names another spool (one
left by an earlier spool that was cleared) is ignored, so a stale count can never skip new
records. A crash mid-replay re-archives at most the batch in flight.

Upgrade: a spool written by earlier versions (no file header: a 4-byte big-endian length, the
JSON header, a 4-byte length, the packet's bytes; progress a plain record count) is converted
once on open: the records not yet replayed are rewritten in the new format to a temporary file
that replaces the old one atomically. That old format had no checksum and appended after a torn
record, which then claimed the following record's bytes; the conversion checks that each
record's header is JSON and that the next record starts where this one ends, and otherwise
resynchronises on the next record header, so records appended after a torn one are recovered.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import mmap
import os
import secrets
import struct
import threading
import zlib
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, overload

from offsite.db.durable import fsync_path
from offsite.store.archive import Incoming

log = logging.getLogger(__name__)

_MAGIC = b"OFSPOOL\x02"
_ID_SIZE = 16
_FILE_HEADER = struct.Struct(f">{len(_MAGIC)}s{_ID_SIZE}sI")
_MARKER = b"\xf5\x8eSR"
_DIGEST_SIZE = 8
_FRAME = struct.Struct(f">4sI{_DIGEST_SIZE}s")  # marker, payload length, digest
_LEN = struct.Struct(">I")
_HEADER_KEYS = ("peer", "received_at", "outcome", "error", "mn", "cn", "qn", "device_id")
_OLD_RECORD_START = b'{"peer": '  # how every header of the earlier format begins
_READ_CHUNK = 4096  # records decoded per read when iterating
_JSON = json.JSONDecoder()


@dataclass(frozen=True, slots=True)
class Spooled:
    incoming: Incoming
    device_id: int | None


class Spool:
    """Records fsynced while the database is away, and how many of them are replayed.

    Not safe for two processes on one directory (each keeps its own offsets); within a process
    every method takes a lock. If the file changes behind the spool's back (its size or inode is
    not what this process wrote), it is scanned again before the next read or append.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / "spool.bin"
        self.progress = directory / "spool.replayed"
        self.damaged = 0
        """Damaged byte ranges found (and copied aside) since this spool was opened."""
        self._lock = threading.RLock()
        self._id: bytes | None = None
        self._offsets = array("q")
        self._end = 0  # where the next record goes: the end of the last whole record
        self._done = 0  # records already in the archive
        self._generation = 0  # bumped whenever the offsets are rebuilt: stale views refuse to read
        self._stat: tuple[int, int] | None = None  # (inode, size) of the file as this process left it
        with self._lock:
            self._open()

    # -- the interface the ingest uses ------------------------------------------------------

    def append(self, records: list[Spooled]) -> None:
        """Write and fsync: when this returns, the records survive a crash or power loss."""
        if not records:
            return
        with self._lock:
            self._refresh()
            if self._id is None:
                self._create()
            assert self._id is not None
            frames, offsets, position = [], [], self._end
            for record in records:
                frame = _frame(self._id, _payload(record))
                offsets.append(position)
                frames.append(frame)
                position += len(frame)
            fd = os.open(self.path, os.O_WRONLY)
            try:
                try:
                    _pwrite_all(fd, b"".join(frames), self._end)
                    os.fsync(fd)
                except OSError:
                    # Nothing here is acknowledged; leave no partial frame for the next append.
                    try:
                        os.ftruncate(fd, self._end)
                        os.fsync(fd)
                    except OSError:
                        self._stat = None  # unknown state: scan again before the next use
                    raise
                self._offsets.extend(offsets)
                self._end = position
                self._stat = (os.fstat(fd).st_ino, position)
            finally:
                os.close(fd)

    def read(self) -> SpoolRecords:
        """The records not yet replayed, in the order they were spooled.

        A sequence that reads the records from the file by offset only when indexed, sliced or
        iterated: taking it costs nothing, ``read()[:n]`` reads n records. It stays valid after
        appends and ``mark_replayed``; after ``clear`` reading it raises ``RuntimeError``.
        """
        with self._lock:
            self._refresh()
            return SpoolRecords(self, self._generation, self._done, len(self._offsets))

    def replayed(self) -> int:
        """How many records, from the first, are already in the archive."""
        with self._lock:
            self._refresh()
            return self._done

    def pending(self) -> int:
        """How many records wait to be replayed (no file access)."""
        with self._lock:
            return len(self._offsets) - self._done

    def mark_replayed(self, count: int) -> None:
        """Record, fsynced, that the first ``count`` records are in the archive."""
        with self._lock:
            self._refresh()
            if not 0 <= count <= len(self._offsets):
                raise ValueError(f"cannot mark {count} records replayed: the spool holds {len(self._offsets)}")
            if self._id is None:
                return  # an empty spool: nothing to record
            offset = self._offsets[count] if count < len(self._offsets) else self._end
            tmp = self.progress.with_name(self.progress.name + ".tmp")
            _write_durably(tmp, f"v2 {self._id.hex()} {offset}\n".encode())
            os.replace(tmp, self.progress)
            fsync_path(self.directory)
            self._done = count

    def clear(self) -> None:
        """Everything is in the archive: start an empty spool."""
        with self._lock:
            # The spool first: a progress file left behind names this spool's id, which no new
            # spool will have, so it can never make a new spool skip records.
            for path in (self.path, self.progress):
                path.unlink(missing_ok=True)
                if self.directory.exists():
                    fsync_path(self.directory)
            self._reset()

    def __len__(self) -> int:
        """The records not yet replayed."""
        return self.pending()

    # -- records by index -------------------------------------------------------------------

    def _load(self, generation: int, start: int, stop: int) -> list[Spooled]:
        """Records [start, stop) by index, read with one ``pread`` of their byte range."""
        with self._lock:
            if generation != self._generation:
                raise RuntimeError("the spool was cleared or rescanned since this read(); read it again")
            if start >= stop:
                return []
            base = self._offsets[start]
            end = self._offsets[stop] if stop < len(self._offsets) else self._end
            fd = os.open(self.path, os.O_RDONLY)
            try:
                data = _pread_all(fd, end - base, base)
            finally:
                os.close(fd)
            records = []
            for index in range(start, stop):
                at = self._offsets[index] - base
                _, size, _ = _FRAME.unpack_from(data, at)
                records.append(_record(memoryview(data)[at + _FRAME.size : at + _FRAME.size + size]))
            return records

    # -- opening ----------------------------------------------------------------------------

    def _reset(self) -> None:
        self._id = None
        self._offsets = array("q")
        self._end = 0
        self._done = 0
        self._generation += 1
        self._stat = None

    def _refresh(self) -> None:
        """Scan again if the file is not what this process last wrote (one ``stat``)."""
        try:
            st = os.stat(self.path)
            current: tuple[int, int] | None = (st.st_ino, st.st_size)
        except FileNotFoundError:
            current = None
        if current != self._stat:
            log.warning("spool %s changed outside this process; scanning it again", self.path)
            self._open()

    def _open(self) -> None:
        self._reset()
        try:
            with open(self.path, "rb") as f:
                start = f.read(len(_MAGIC))
        except FileNotFoundError:
            return
        if not start:
            self.path.unlink()
            fsync_path(self.directory)
            return
        if not _MAGIC.startswith(start):
            self._upgrade(self.path.read_bytes())
            if not self.path.exists():
                return
        with open(self.path, "rb") as f:
            header = f.read(_FILE_HEADER.size)
        if len(header) < _FILE_HEADER.size or not _header_ok(header):
            aside = self._aside("corrupt", "header")
            os.replace(self.path, aside)
            fsync_path(self.directory)
            self.damaged += 1
            log.error("spool %s has a damaged file header: moved aside to %s, starting a new spool", self.path, aside)
            return
        self._id = _FILE_HEADER.unpack(header)[1]
        cut = self._scan()
        if cut is not None:
            fd = os.open(self.path, os.O_WRONLY)
            try:
                os.ftruncate(fd, cut)
                os.fsync(fd)
            finally:
                os.close(fd)
        st = os.stat(self.path)
        self._stat = (st.st_ino, st.st_size)
        self._done = self._load_progress()
        if self._done == len(self._offsets) and self._offsets:
            log.info("spool %s was replayed entirely before a restart; removing it", self.path)
            self.clear()

    def _scan(self) -> int | None:
        """Find every whole record (mapped, not read into memory); where to cut a torn tail."""
        assert self._id is not None
        with open(self.path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            view = memoryview(mapped)
            try:
                pos, size, cut = _FILE_HEADER.size, len(view), None
                while pos < size:
                    end = _frame_end(self._id, view, pos)
                    if end is not None:
                        self._offsets.append(pos)
                        pos = end
                        continue
                    resume = _next_frame(self._id, mapped, view, pos + 1)
                    if resume is None:
                        self._torn_tail(view, pos)
                        cut = pos
                        break
                    self._set_aside(view[pos:resume], pos)
                    pos = resume
                self._end = pos
                return cut
            finally:
                view.release()

    def _torn_tail(self, view: memoryview, pos: int) -> None:
        """Bytes after the last whole record that no valid frame follows: to be cut off."""
        tail = view[pos:]
        header = bytes(tail[: _FRAME.size])
        if _zeros(tail):
            log.warning(
                "spool %s: %d zero bytes after the last record (a torn write) are cut off", self.path, len(tail)
            )
        elif len(tail) < _FRAME.size:
            log.warning("spool %s: a torn last record (%d bytes) is cut off at offset %d", self.path, len(tail), pos)
        elif header.startswith(_MARKER) and _FRAME.size + _FRAME.unpack_from(header)[1] > len(tail):
            # Shorter than its length says: a write that never completed, so never acknowledged.
            # Copied aside all the same: a damaged length field would look just like it.
            self._set_aside(tail, pos, "torn")
        else:
            self._set_aside(tail, pos, "corrupt")

    def _set_aside(self, bad: memoryview, offset: int, kind: str = "corrupt") -> None:
        """Copy bytes that hold no valid record to a file beside the spool (once per spool and offset)."""
        assert self._id is not None
        tag = f"{self._id.hex()[:12]}-{offset}"
        existing = sorted(self.directory.glob(f"{self.path.name}.{kind}-*-{tag}"))
        if existing:
            aside = existing[0]
        else:
            aside = self._aside(kind, tag)
            _write_durably(aside, bytes(bad))
            fsync_path(self.directory)
        if kind == "torn":
            log.warning(
                "spool %s: a torn last record (%d bytes at offset %d, a write that never completed) is cut off; "
                "copied to %s",
                self.path,
                len(bad),
                offset,
                aside,
            )
            return
        self.damaged += 1
        log.error(
            "spool %s: %d damaged bytes at offset %d hold no record that can be replayed; copied to %s",
            self.path,
            len(bad),
            offset,
            aside,
        )

    def _aside(self, kind: str, tag: str) -> Path:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        return self.path.with_name(f"{self.path.name}.{kind}-{stamp}-{tag}")

    def _load_progress(self) -> int:
        try:
            text = self.progress.read_text()
        except OSError:
            return 0
        parts = text.split()
        if len(parts) == 3 and parts[0] == "v2" and self._id is not None and parts[1] == self._id.hex():
            try:
                offset = int(parts[2])
            except ValueError:
                pass
            else:
                return bisect.bisect_left(self._offsets, offset)
        log.warning("ignoring replay progress %s: it does not belong to spool %s", self.progress, self.path)
        return 0

    def _create(self) -> None:
        """A new, empty spool file with a fresh id, created whole."""
        self.directory.mkdir(parents=True, exist_ok=True)
        spool_id = secrets.token_bytes(_ID_SIZE)
        tmp = self.path.with_name(self.path.name + ".tmp")
        _write_durably(tmp, _file_header(spool_id))
        os.replace(tmp, self.path)
        fsync_path(self.directory)
        self._id = spool_id
        self._end = _FILE_HEADER.size
        self._stat = (os.stat(self.path).st_ino, self._end)

    # -- the earlier format -----------------------------------------------------------------

    def _upgrade(self, data: bytes) -> None:
        """Rewrite a spool of the earlier format, without what it had already replayed."""
        records, anomalies, first_anomaly = [], [], None
        pos = 0
        while pos < len(data):
            parsed = _old_record(data, pos)
            if parsed is not None and _old_start_plausible(data, parsed[1]):
                records.append(parsed[0])
                pos = parsed[1]
                continue
            if first_anomaly is None:
                first_anomaly = len(records)
            resume = _next_old_record(data, pos + 1)
            anomalies.append((pos, resume if resume is not None else len(data)))
            if resume is None:
                break
            pos = resume
        try:
            count = int(self.progress.read_text())
        except (OSError, ValueError):
            count = 0
        # The earlier reader saw the records up to the first anomaly, then one garbled record;
        # what came after it was never read, so never replayed.
        skip = min(count, len(records) if first_anomaly is None else first_anomaly)
        spool_id = secrets.token_bytes(_ID_SIZE)
        self._id = spool_id
        for start, end in anomalies:
            bad = memoryview(data)[start:end]
            if not _zeros(bad):
                self._set_aside(bad, start)
        body = [_file_header(spool_id)] + [_frame(spool_id, _payload(r)) for r in records[skip:]]
        tmp = self.path.with_name(self.path.name + ".tmp")
        _write_durably(tmp, b"".join(body))
        os.replace(tmp, self.path)
        fsync_path(self.directory)
        # A plain count left behind (a crash here) names no spool id: the new spool ignores it.
        self.progress.unlink(missing_ok=True)
        fsync_path(self.directory)
        self._id = None
        log.warning(
            "spool %s upgraded to format 2: %d records kept, %d already replayed dropped, %d damaged ranges",
            self.path,
            len(records) - skip,
            skip,
            len(anomalies),
        )


class SpoolRecords(Sequence[Spooled]):
    """The records of ``Spool.read()``, read from the spool file by offset when asked for."""

    def __init__(self, spool: Spool, generation: int, start: int, stop: int) -> None:
        self._spool = spool
        self._generation = generation
        self._start = start
        self._stop = stop

    def __len__(self) -> int:
        return self._stop - self._start

    @overload
    def __getitem__(self, index: int) -> Spooled: ...

    @overload
    def __getitem__(self, index: slice) -> list[Spooled]: ...

    def __getitem__(self, index: int | slice) -> Spooled | list[Spooled]:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                return [self[i] for i in range(start, stop, step)]
            return self._spool._load(self._generation, self._start + start, self._start + max(start, stop))
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("spool record index out of range")
        return self._spool._load(self._generation, self._start + index, self._start + index + 1)[0]

    def __iter__(self) -> Iterator[Spooled]:
        for start in range(0, len(self), _READ_CHUNK):
            yield from self[start : start + _READ_CHUNK]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]  # a view of changing contents: not hashable

    def __repr__(self) -> str:
        return f"<{len(self)} spooled records>"


# -- frames ---------------------------------------------------------------------------------


def _file_header(spool_id: bytes) -> bytes:
    return _FILE_HEADER.pack(_MAGIC, spool_id, zlib.crc32(_MAGIC + spool_id))


def _header_ok(data: bytes) -> bool:
    magic, spool_id, crc = _FILE_HEADER.unpack_from(data)
    return bool(magic == _MAGIC and crc == zlib.crc32(magic + spool_id))


def _digest(spool_id: bytes, length: bytes | memoryview, payload: bytes | memoryview) -> bytes:
    h = hashlib.blake2b(length, key=spool_id, digest_size=_DIGEST_SIZE)
    h.update(payload)
    return h.digest()


def _frame(spool_id: bytes, payload: bytes) -> bytes:
    length = _LEN.pack(len(payload))
    return _MARKER + length + _digest(spool_id, length, payload) + payload


def _frame_end(spool_id: bytes, view: memoryview, pos: int) -> int | None:
    """Where the frame at ``pos`` ends, if a whole frame that verifies starts there."""
    if pos + _FRAME.size > len(view):
        return None
    marker, size, digest = _FRAME.unpack_from(view, pos)
    end: int = pos + _FRAME.size + size
    if marker != _MARKER or end > len(view):
        return None
    if _digest(spool_id, view[pos + 4 : pos + 8], view[pos + _FRAME.size : end]) != digest:
        return None
    return end


def _next_frame(spool_id: bytes, data: mmap.mmap, view: memoryview, start: int) -> int | None:
    """The next offset at or after ``start`` where a frame that verifies begins."""
    pos = data.find(_MARKER, start)
    while pos != -1:
        if _frame_end(spool_id, view, pos) is not None:
            return pos
        pos = data.find(_MARKER, pos + 1)
    return None


def _payload(record: Spooled) -> bytes:
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
    return _LEN.pack(len(header)) + header + packet.data


def _record(payload: memoryview) -> Spooled:
    (size,) = _LEN.unpack_from(payload)
    header = _JSON.decode(str(payload[_LEN.size : _LEN.size + size], "utf-8"))
    return _spooled(header, bytes(payload[_LEN.size + size :]))


def _spooled(header: dict[str, Any], data: bytes) -> Spooled:
    incoming = Incoming(
        data=data,
        peer=header["peer"],
        received_at=datetime.fromisoformat(header["received_at"]),
        outcome=header["outcome"],
        error=header["error"],
        mn=header["mn"],
        cn=header["cn"],
        qn=header["qn"],
    )
    return Spooled(incoming, header["device_id"])


# -- the earlier format: length, JSON header, length, data; no marker, no checksum -----------


def _old_record(data: bytes, pos: int) -> tuple[Spooled, int] | None:
    """The record of the earlier format at ``pos`` and where it ends, if it parses whole."""
    if pos + _LEN.size > len(data):
        return None
    (size,) = _LEN.unpack_from(data, pos)
    header_end = pos + _LEN.size + size
    if header_end + _LEN.size > len(data):
        return None
    (data_size,) = _LEN.unpack_from(data, header_end)
    end = header_end + _LEN.size + data_size
    if end > len(data):
        return None
    try:
        header = json.loads(data[pos + _LEN.size : header_end])
        if not isinstance(header, dict) or any(key not in header for key in _HEADER_KEYS):
            return None
        return _spooled(header, data[header_end + _LEN.size : end]), end
    except (ValueError, TypeError, KeyError):
        return None


def _old_start_plausible(data: bytes, pos: int) -> bool:
    """Whether a record of the earlier format could start at ``pos`` (or the file ends there).

    Every such header starts with ``{"peer": `` after its length; a torn last record may hold
    only a prefix of that.
    """
    rest = data[pos : pos + _LEN.size + len(_OLD_RECORD_START)]
    return rest[_LEN.size :] == _OLD_RECORD_START[: max(0, len(rest) - _LEN.size)]


def _next_old_record(data: bytes, start: int) -> int | None:
    """The next offset at or after ``start`` where a whole record of the earlier format starts."""
    found = data.find(_OLD_RECORD_START, start + _LEN.size)
    while found != -1:
        pos = found - _LEN.size
        parsed = _old_record(data, pos)
        if parsed is not None and _old_start_plausible(data, parsed[1]):
            return pos
        found = data.find(_OLD_RECORD_START, found + 1)
    return None


# -- durable writes -------------------------------------------------------------------------


def _zeros(data: memoryview) -> bool:
    """Whether these bytes are all zero (what a torn write can leave on some file systems)."""
    return not bytes(data).strip(b"\x00")


def _write_durably(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        _pwrite_all(fd, data, 0)
        os.fsync(fd)
    finally:
        os.close(fd)


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


def _pread_all(fd: int, size: int, offset: int) -> bytes:
    chunks, remaining = [], size
    while remaining > 0:
        chunk = os.pread(fd, remaining, offset)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
        offset += len(chunk)
    return b"".join(chunks)
