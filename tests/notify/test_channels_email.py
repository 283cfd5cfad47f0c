"""An e-mail carries the headers RFC 5322 requires (Date, Message-ID), so that receiving servers
and spam filters take it as well-formed."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import pytest

from offsite.notify.channels import Email, Outgoing
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
