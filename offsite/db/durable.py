"""Files that survive a power cut: written, fsynced, and their directory entries fsynced too.

Acks, keys, a chain's head record, a device snapshot, published heads and retired months are
only as safe as the disk says: a write the disk has not been told to keep can vanish, and so
can a new name the directory has not been told to keep.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_path(path: Path) -> None:
    """Flush a file's data, or a directory's entries, to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_durably(path: Path, data: bytes, mode: int = 0o600) -> None:
    """``path`` holds ``data``, whole, once this returns: written beside it, fsynced, renamed over
    it, the directory fsynced — a power cut leaves the old content or the new, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    _write_and_close(fd, data)
    os.replace(tmp, path)
    fsync_path(path.parent)


def append_durably(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Append ``data`` to ``path`` (made if missing) and fsync it, and its directory when new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, mode)
    _write_and_close(fd, data)
    if new:
        fsync_path(path.parent)


def _write_and_close(fd: int, data: bytes) -> None:
    """Write all of ``data`` (a write may take only part of it), fsync, close."""
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
