"""An e-mail carries the headers RFC 5322 requires (Date, Message-ID), so that receiving servers
and spam filters take it as well-formed."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import pytest

from offsite.notify.channels import Email, Outgoing
from offsite.notify.models import OutboxMessage
from offsite.notify.outbox import _outgoing
from offsite.settings import Settings
from tests.notify.servers import smtp_server

MAIL = Outgoing("email", "officer@hf.example", "alarm", "COD daily average over the limit")


@pytest.mark.parametrize(
    ("sender", "domain"),
    [("offsite@hf.gov.cn", "hf.gov.cn"), ("合肥生态环境局 <offsite@hf.gov.cn>", "hf.gov.cn"), ("offsite", "localhost")],
)
def test_mail_has_a_date_and_a_message_id_of_the_senders_domain(sender: str, domain: str) -> None:
    with smtp_server() as (port, mailbox):
        email = Email(Settings(smtp_host="127.0.0.1", smtp_port=port, notify_timeout=5.0, smtp_sender=sender))
        before = datetime.now(UTC).replace(microsecond=0)
        email.send(MAIL)
        email.send(MAIL)
    first, second = mailbox.messages
    assert first["Date"].endswith(" -0000")  # UTC, as formatdate(localtime=False) writes it
    date = parsedate_to_datetime(first["Date"]).replace(tzinfo=UTC)
    assert before <= date <= datetime.now(UTC)
    message_id = first["Message-ID"]
    assert message_id.startswith("<")
    assert message_id.endswith(f"@{domain}>")
    assert second["Message-ID"] != message_id  # one per message


def test_a_retried_message_keeps_its_message_id_and_another_message_has_its_own() -> None:
    with smtp_server() as (port, mailbox):
        email = Email(Settings(smtp_host="127.0.0.1", smtp_port=port, notify_timeout=5.0, smtp_sender="o@hf.gov.cn"))
        email.send(Outgoing("email", "officer@hf.example", "alarm", "body", key="12"))
        email.send(Outgoing("email", "officer@hf.example", "alarm", "body", key="12"))  # the same rows again
        email.send(Outgoing("email", "officer@hf.example", "digest", "body", key="13-14"))
    first, retried, other = (m["Message-ID"] for m in mailbox.messages)
    assert first == retried == "<offsite.12@hf.gov.cn>"
    assert other == "<offsite.13-14@hf.gov.cn>"


def test_an_outbox_row_is_the_same_message_at_every_attempt_and_after_a_reset_another() -> None:
    def row(n: int, made: datetime) -> OutboxMessage:
        return OutboxMessage(
            id=n, channel="email", address="officer@hf.example", subject="s", body="b", created_at=made
        )

    made = datetime(2026, 12, 7, 8, tzinfo=UTC)
    first = _outgoing([row(12, made)])
    assert _outgoing([row(12, made)]).key == first.key  # a retry: the same key, so the same Message-ID
    assert _outgoing([row(12, made.replace(hour=9))]).key != first.key  # row 12 again in a reset database
    assert _outgoing([row(12, made), row(13, made)]).key != first.key  # a batch is a message of its own
