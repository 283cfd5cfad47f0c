"""Publishing the archive's signed heads to witnesses outside the database, on a schedule.

A head published where the database's owner cannot reach it — a file (best on another disk or
host, ``OFFSITE_ARCHIVE_WITNESS_DIR``), a witness's mailbox, a webhook — lets ``offsite archive
verify --heads FILE --public-key FILE`` prove later that no record up to it was cut off or
rewritten. Each publication names the signing key's fingerprint.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine

from offsite.db.durable import append_durably
from offsite.hj212.times import CST
from offsite.notify.channels import Channel, Outgoing
from offsite.settings import Settings
from offsite.store.heads import signed_heads
from offsite.store.signing import signer

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Publication:
    heads: int
    fingerprint: str
    file: Path
    sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        where = [str(self.file), *self.sent]
        failed = f"; not delivered to {', '.join(self.failed)}" if self.failed else ""
        return f"{self.heads} chain heads signed with key {self.fingerprint} published to {', '.join(where)}{failed}"


def publish_heads(engine: Engine, settings: Settings, channels: dict[str, Channel], now: datetime) -> Publication:
    """Sign every chain's head now; append them to the day's heads file, and send them to the
    witness address and webhook when set. A witness that fails is named, not retried here (the
    next publication carries newer heads)."""
    key = signer(settings.data_dir)
    lines = [head.as_json() for head in signed_heads(engine, key, now)]
    directory = settings.archive_witness_dir or settings.data_dir / "heads"
    path = directory / f"heads-{now.astimezone(CST):%Y%m%d}.jsonl"
    append_durably(path, "".join(line + "\n" for line in lines).encode("utf-8"))
    sent, failed = [], []
    body = "\n".join(lines) + f"\n\n签名公钥指纹 (key fingerprint): {key.fingerprint}\n"
    subject = (
        f"Offsite 原始报文存证链头 (archive heads) {now.astimezone(CST):%Y-%m-%d %H:%M} CST, key {key.fingerprint}"
    )
    for channel, address in (("email", settings.archive_witness_email), ("webhook", settings.archive_witness_webhook)):
        if not address:
            continue
        try:
            channels[channel].send(Outgoing(channel, address, subject, body))
        except Exception as exc:  # a witness that fails must not stop the others, nor the file
            log.error("heads not delivered to %s %s: %s", channel, address, exc)
            failed.append(f"{channel} {address}")
        else:
            sent.append(f"{channel} {address}")
    return Publication(len(lines), key.fingerprint, path, sent, failed)
