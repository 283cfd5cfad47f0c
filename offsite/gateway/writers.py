"""Which spool belongs to which archive chain, and one gateway per spool.

A packet acknowledged while the database was away lives only in its writer's spool until it is
replayed. The database records where each writer's spool is; a gateway that starts for the same
chain with its spool somewhere else refuses while the old spool on this host still holds data,
and warns when the old one is out of its reach. A lock file keeps two gateways out of one spool.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from sqlalchemy import Engine, insert, select, update

from offsite.gateway.models import ArchiveWriter
from offsite.gateway.spool import Spool
from offsite.settings import Settings

log = logging.getLogger(__name__)

WRITER_FILE = "archive-writer"
"""The chain name recorded in the data directory."""

WRITER_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")


class SpoolElsewhere(RuntimeError):
    """The chain's acknowledged packets wait in another spool, or another gateway holds this one."""


def claim_spool(engine: Engine, writer: str, spool_dir: Path) -> None:
    """Record ``spool_dir`` as the chain's spool, once no other spool of the chain holds data here."""
    now = datetime.now(UTC)
    mine = {"host": socket.gethostname()[:255], "spool_dir": str(spool_dir), "pid": os.getpid(), "started_at": now}
    with engine.begin() as conn:
        row = conn.execute(select(ArchiveWriter).where(ArchiveWriter.writer == writer)).first()
        if row is None:
            conn.execute(insert(ArchiveWriter).values(writer=writer, **mine))
            return
        if row.spool_dir != str(spool_dir):
            other = Path(row.spool_dir)
            waiting = _waiting_in(other) if row.host == mine["host"] else 0
            if waiting is None:
                raise SpoolElsewhere(
                    f"a gateway for archive chain {writer!r} is running with its spool at {other}: "
                    "two gateways cannot append to one chain (give each its own OFFSITE_ARCHIVE_WRITER)"
                )
            if waiting:
                raise SpoolElsewhere(
                    f"archive chain {writer!r} has {waiting} acknowledged packets waiting in its spool at {other}, "
                    f"but this gateway would spool to {spool_dir}: start it with OFFSITE_GATEWAY_SPOOL_DIR={other} "
                    "(or the data directory that holds it) so they are replayed"
                )
            if row.host != mine["host"]:
                log.warning(
                    "archive chain %r was last written on host %s with its spool at %s; if that spool still "
                    "holds packets, replay them there — this gateway spools to %s",
                    writer,
                    row.host,
                    other,
                    spool_dir,
                )
        conn.execute(update(ArchiveWriter).where(ArchiveWriter.writer == writer).values(**mine))


def lock_spool(spool_dir: Path) -> IO[str]:
    """Hold the spool for this process (kept open for its life); a second gateway is refused."""
    spool_dir.mkdir(parents=True, exist_ok=True)
    handle = open(spool_dir / "gateway.lock", "a+", encoding="utf-8")  # noqa: SIM115 (held until exit)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        handle.close()
        raise SpoolElsewhere(f"another gateway already uses the spool at {spool_dir}") from exc
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def settled_writer(settings: Settings) -> Settings:
    """The settings with the chain name this data directory writes: ``OFFSITE_ARCHIVE_WRITER``
    when given; else the name recorded in the data directory at its first start (the host name
    then), so that a renamed host — a re-created container — keeps its chain and its spool."""
    if "archive_writer" in settings.model_fields_set:
        return settings
    path = settings.data_dir / WRITER_FILE
    try:
        recorded = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(settings.archive_writer + "\n", encoding="utf-8")
        return settings
    if not WRITER_NAME.fullmatch(recorded):
        raise SpoolElsewhere(f"{path} does not hold a chain name ({recorded[:80]!r}): set OFFSITE_ARCHIVE_WRITER")
    return settings.model_copy(update={"archive_writer": recorded})


def orphaned_spools(data_dir: Path, own: Path) -> None:
    """Refuse to start while another chain's spool in this data directory holds acknowledged packets."""
    root = data_dir / "spool"
    if not root.is_dir():
        return
    for directory in sorted(p for p in root.iterdir() if p.is_dir() and p != own):
        waiting = _waiting_in(directory)
        if waiting:
            raise SpoolElsewhere(
                f"the spool of chain {directory.name!r} at {directory} holds {waiting} acknowledged packets not yet "
                f"archived: start a gateway with OFFSITE_ARCHIVE_WRITER={directory.name} to replay them first"
            )


def legacy_spool(own: Path, directory: Path | None = None) -> None:
    """Refuse to start while the spool versions before 2026-12-07 kept by default in the working
    directory (``./offsite-spool``) holds acknowledged packets that no gateway replays."""
    old = (directory or Path.cwd()) / "offsite-spool"
    if old.resolve() == own.resolve():
        return
    waiting = _waiting_in(old)
    if waiting:
        raise SpoolElsewhere(
            f"{old} holds {waiting} acknowledged packets an earlier version spooled: start the gateway once "
            f"with OFFSITE_GATEWAY_SPOOL_DIR={old} to replay them, then remove it"
        )


def _waiting_in(directory: Path) -> int | None:
    """Packets waiting in the spool at ``directory``; None while a live gateway holds it."""
    if not directory.is_dir():
        return 0
    try:  # the lock first: a live gateway's spool is its own, whatever it holds
        handle = lock_spool(directory)
    except SpoolElsewhere:
        return None
    try:
        return Spool(directory).pending() if (directory / "spool.bin").exists() else 0
    finally:
        handle.close()
