"""The worker publishes the archive's signed heads to witnesses outside the database (issue 13, point 6)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from offsite.jobs.scheduled import heads_job
from offsite.notify.channels import channels_for
from offsite.notify.witness import publish_heads
from offsite.store.archive import ArchiveWriter
from offsite.store.heads import parse_heads
from offsite.store.signing import SigningKeyError, signer
from offsite.store.verification import verify
from tests.notify.servers import Recorder, http_server, smtp_server
from tests.notify.test_outbox import _settings
from tests.store.test_archive import incoming
from tests.store.test_headstate import forge_next

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


def test_heads_go_to_the_file_the_mailbox_and_the_webhook(engine: Engine, tmp_path: Path) -> None:
    key = signer(tmp_path / "data", create=True)  # the gateway makes it at its first start
    # each batch closes a checkpoint (the gateway's every OFFSITE_ARCHIVE_CHECKPOINT_SECONDS at least)
    ArchiveWriter(engine, "gw-1", signer=key, checkpoint_seconds=0).append([incoming(i) for i in range(3)])
    ArchiveWriter(engine, "gw-2", signer=key, checkpoint_seconds=0).append([incoming(i, mn="MN-B") for i in range(2)])
    ArchiveWriter(engine, "gw-3").append([incoming(9, mn="MN-C")])  # signed by no one: nothing to publish
    recorder = Recorder(answer={"ok": True})
    with smtp_server() as (port, mailbox), http_server(recorder) as url:
        settings = _settings(
            smtp_port=port,
            data_dir=tmp_path / "data",
            archive_witness_dir=tmp_path / "witness",
            archive_witness_email="notary@witness.example",
            archive_witness_webhook=url,
        )
        done = publish_heads(engine, settings, channels_for(settings), NOW)
    assert (done.heads, done.fingerprint, done.failed) == (2, key.fingerprint, [])
    assert done.file == tmp_path / "witness" / "heads-20261207.jsonl"
    published = parse_heads(done.file.read_text().splitlines(), "witness file")
    assert [(h.writer, h.seq) for h in published] == [("gw-1", 3), ("gw-2", 2)]
    assert verify(engine, published, public_key=key.public).ok
    [mail] = mailbox.messages
    assert mail["To"] == "notary@witness.example"
    assert key.fingerprint in mail["Subject"]
    assert key.fingerprint in mail.get_payload(decode=True).decode()
    [(_, _, body)] = recorder.requests
    posted = json.loads(body)
    assert parse_heads(posted["body"].split("\n\n")[0].splitlines(), "webhook") == published


def test_a_witness_that_fails_is_named_and_the_file_still_written(engine: Engine, tmp_path: Path) -> None:
    key = signer(tmp_path / "data", create=True)
    ArchiveWriter(engine, "gw-1", signer=key, checkpoint_seconds=0).append([incoming(0)])
    settings = _settings(
        data_dir=tmp_path / "data",
        smtp_port=1,  # nothing listens there
        archive_witness_email="notary@witness.example",
        archive_witness_webhook="https://",  # no host: refused by the channel
    )
    done = publish_heads(engine, settings, channels_for(settings), NOW)
    assert done.failed == ["email notary@witness.example", "webhook https://"]
    assert done.file == tmp_path / "data" / "heads" / "heads-20261207.jsonl"
    assert len(done.file.read_text().splitlines()) == 1
    assert "not delivered to email notary@witness.example" in done.summary()


def test_no_signing_key_no_publication(engine: Engine, tmp_path: Path) -> None:
    """A worker on a host without the gateway's key must not make a key of its own."""
    settings = _settings(data_dir=tmp_path / "data")
    with pytest.raises(SigningKeyError, match="no archive signing key"):
        publish_heads(engine, settings, channels_for(settings), NOW)
    assert not (tmp_path / "data" / "archive-signing.key").exists()
    assert heads_job(engine, settings).startswith("heads: not published: no archive signing key")


def test_a_record_someone_inserted_is_never_published(engine: Engine, tmp_path: Path) -> None:
    """Heads come from the gateway's signed checkpoints, not from the newest row in the database."""
    key = signer(tmp_path / "data", create=True)
    ArchiveWriter(engine, "gw-1", signer=key, checkpoint_seconds=0).append([incoming(i) for i in range(3)])
    forge_next(engine, "gw-1")
    settings = _settings(data_dir=tmp_path / "data")
    done = publish_heads(engine, settings, channels_for(settings), NOW)
    [head] = parse_heads(done.file.read_text().splitlines(), "witness file")
    assert (head.writer, head.seq) == ("gw-1", 3)  # not 4, the forged record
