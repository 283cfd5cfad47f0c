"""Files only their owner may read: the platform's keys, made at first use under the data directory.

Whoever reads such a file can answer for every device, or sign evidence, so one that its group
or others may read is refused, and a new one is created with mode 0600 and fsynced.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from offsite.db.durable import fsync_path


class KeyFileError(ValueError):
    """A key file is unreadable, or readable by others than its owner."""


def read_private(path: Path, *, exposed_ok: bool = False) -> bytes:
    """The file's bytes, once it is known to be its owner's alone (``exposed_ok``: a key being
    retired, which others may have read, is read all the same)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077 and not exposed_ok:
            raise KeyFileError(
                f"the key file {path} may be read by others (mode {mode:04o}): make it the owner's alone "
                f"(chmod 600 {path}), and treat the key as known to whoever could read it"
            )
        return path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"the key file {path} cannot be read: {exc}") from exc


def create_private(path: Path, content: bytes) -> bool:
    """Write a new key file with mode 0600; False if one exists already (another process made it)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    except OSError as exc:
        raise KeyFileError(f"the key file {path} cannot be created: {exc}") from exc
    with os.fdopen(fd, "wb") as fh:
        fh.write(content)
        fh.flush()
        os.fsync(fh.fileno())
    fsync_path(path.parent)  # the new name survives a power cut too
    return True
