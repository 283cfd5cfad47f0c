"""One bad message never stops the others: a refused address or a fault in a channel is that
message's failed attempt, retried with backoff and at last left ``failed`` with its reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from offsite.notify.channels import Channel, Outgoing, channels_for
from offsite.notify.models import DeliveryAttempt, OutboxMessage
from offsite.notify.outbox import deliver_due
from tests.notify.servers import Recorder, http_server, smtp_server
from tests.notify.test_outbox import NOW, _enqueue, _settings

HEADER_INJECTION = "a@b.cn\r\nBcc: x@y.cn"


def _by_address(sessions: sessionmaker[Session]) -> dict[str, OutboxMessage]:
    with sessions() as session:
        return {m.address: m for m in session.scalars(select(OutboxMessage))}


def _details(sessions: sessionmaker[Session], address: str) -> list[str]:
    with sessions() as session:
        return list(
            session.scalars(
                select(DeliveryAttempt.detail)
                .join(OutboxMessage, OutboxMessage.id == DeliveryAttempt.message_id)
                .where(OutboxMessage.address == address)
                .order_by(DeliveryAttempt.id)
            )
        )


def test_an_email_address_with_a_line_break_fails_alone_and_never_becomes_a_header(
    sessions: sessionmaker[Session],
) -> None:
    recorder = Recorder(answer={"ok": True})
    with smtp_server() as (port, mailbox), http_server(recorder) as url:
        settings = _settings(smtp_port=port, notify_max_attempts=2, notify_group=False)
        _enqueue(sessions, "alarm:1:red", "email", HEADER_INJECTION)  # enqueued before anything checked it
        _enqueue(sessions, "alarm:1:red", "email", "officer@hf.example")
        _enqueue(sessions, "alarm:1:red", "webhook", url)
        first = deliver_due(sessions, channels_for(settings), settings, NOW)
        second = deliver_due(sessions, channels_for(settings), settings, NOW + timedelta(hours=1))

    assert (first.sent, first.retried, first.failed) == (2, 1, 0)
    assert (second.sent, second.retried, second.failed) == (0, 0, 1)
    assert [m["To"] for m in mailbox.messages] == ["officer@hf.example"]
    assert not any(m["Bcc"] for m in mailbox.messages)
    assert len(recorder.requests) == 1
    messages = _by_address(sessions)
    assert messages[HEADER_INJECTION].state == "failed"
    assert messages[HEADER_INJECTION].attempts == 2
    [detail, *_] = _details(sessions, HEADER_INJECTION)
    assert detail.startswith("e-mail address refused: 'a@b.cn\\r\\nBcc: x@y.cn' contains control characters")
    assert any(HEADER_INJECTION.replace("\r\n", "\\r\\n") in error for error in first.errors)


def test_a_webhook_without_a_scheme_fails_alone(sessions: sessionmaker[Session]) -> None:
    recorder = Recorder(answer={"errcode": 0})
    with http_server(recorder) as url:
        settings = _settings()
        _enqueue(sessions, "alarm:2:red", "wecom", "qyapi.weixin.qq.com/cgi-bin/webhook/send?key=1")
        _enqueue(sessions, "alarm:2:red", "dingtalk", url)
        report = deliver_due(sessions, channels_for(settings), settings, NOW)

    assert (report.sent, report.retried) == (1, 1)
    assert len(recorder.requests) == 1
    [detail] = _details(sessions, "qyapi.weixin.qq.com/cgi-bin/webhook/send?key=1")
    assert detail == (
        "webhook address refused: 'qyapi.weixin.qq.com/cgi-bin/webhook/send?key=1' is not a URL: "
        "it needs https:// and a host"
    )


def test_plain_http_webhooks_are_refused_unless_loopback_is_allowed(sessions: sessionmaker[Session]) -> None:
    recorder = Recorder(answer={"ok": True})
    with http_server(recorder) as url:
        strict = _settings(notify_allow_loopback_http=False)
        _enqueue(sessions, "alarm:3:red", "webhook", "http://192.0.2.10/hook")  # TEST-NET: never reached
        _enqueue(sessions, "alarm:3:red", "webhook", url)
        report = deliver_due(sessions, channels_for(strict), strict, NOW)
        assert (report.sent, report.retried) == (0, 2)
        assert recorder.requests == []

        relaxed = _settings()  # OFFSITE_NOTIFY_ALLOW_LOOPBACK_HTTP on: loopback only
        report = deliver_due(sessions, channels_for(relaxed), relaxed, NOW + timedelta(hours=1))
        assert (report.sent, report.retried) == (1, 1)
        assert len(recorder.requests) == 1

    far = _details(sessions, "http://192.0.2.10/hook")
    assert far == ["webhook address refused: 'http://192.0.2.10/hook' is plain http; webhooks must use https"] * 2
    [refused, sent] = _details(sessions, url)
    assert "OFFSITE_NOTIFY_ALLOW_LOOPBACK_HTTP" in refused
    assert sent.startswith("HTTP 200")


@dataclass(frozen=True)
class Exploding:
    """A channel with a bug: it raises what no one expected for one address."""

    inner: Channel
    address: str

    def send(self, message: Outgoing) -> str:
        if message.address == self.address:
            raise ValueError(f"cannot format {message.address}")
        return self.inner.send(message)


def test_an_unexpected_exception_in_a_channel_is_one_failed_attempt_and_the_pass_goes_on(
    sessions: sessionmaker[Session],
) -> None:
    recorder = Recorder(answer={"ok": True})
    with smtp_server() as (port, mailbox), http_server(recorder) as url:
        settings = _settings(smtp_port=port, notify_max_attempts=3, notify_retry_base=60.0)
        channels = channels_for(settings)
        channels["email"] = Exploding(channels["email"], "county@example.cn")
        # The broken message comes first, in id order, ahead of the ones that must still go.
        _enqueue(sessions, "alarm:4:red", "email", "county@example.cn")
        _enqueue(sessions, "alarm:4:red", "email", "city@example.cn")
        _enqueue(sessions, "alarm:4:red", "webhook", url)
        passes = [deliver_due(sessions, channels, settings, NOW + timedelta(minutes=m)) for m in (0, 1, 3)]

    assert [(p.sent, p.retried, p.failed) for p in passes] == [(2, 1, 0), (0, 1, 0), (0, 0, 1)]
    assert [m["To"] for m in mailbox.messages] == ["city@example.cn"]
    assert len(recorder.requests) == 1
    broken = _by_address(sessions)["county@example.cn"]
    assert (broken.state, broken.attempts) == ("failed", 3)
    assert _details(sessions, "county@example.cn") == ["email: ValueError: cannot format county@example.cn"] * 3


def test_a_channel_without_a_sender_fails_its_messages_not_the_pass(sessions: sessionmaker[Session]) -> None:
    recorder = Recorder(answer={"ok": True})
    with http_server(recorder) as url:
        settings = _settings()
        channels = channels_for(settings)
        del channels["sms"]
        _enqueue(sessions, "alarm:5:red", "sms", "13800000000", template="SMS_1")
        _enqueue(sessions, "alarm:5:red", "webhook", url)
        report = deliver_due(sessions, channels, settings, NOW)

    assert (report.sent, report.retried) == (1, 1)
    assert _details(sessions, "13800000000") == ["no sender for channel 'sms'"]


def test_an_sms_to_more_than_one_number_is_refused(sessions: sessionmaker[Session]) -> None:
    recorder = Recorder(answer={"Code": "OK"})
    with http_server(recorder) as url:
        settings = _settings(sms_endpoint=url, sms_access_key_id="AK", sms_access_key_secret="k")
        _enqueue(sessions, "alarm:6:red", "sms", "13800000000,13900000000", template="SMS_1")
        report = deliver_due(sessions, channels_for(settings), settings, NOW)

    assert report.retried == 1
    assert recorder.requests == []
    [detail] = _details(sessions, "13800000000,13900000000")
    assert detail.startswith("mobile number refused: '13800000000,13900000000' is not one telephone number")


def test_a_webhook_that_redirects_is_a_failed_attempt_not_followed(sessions: sessionmaker[Session]) -> None:
    target = Recorder(answer={"ok": True})
    with http_server(target) as elsewhere, http_server(Recorder(redirect=elsewhere)) as url:
        settings = _settings()
        _enqueue(sessions, "alarm:7:red", "webhook", url)
        report = deliver_due(sessions, channels_for(settings), settings, NOW)

    assert (report.sent, report.retried) == (0, 1)
    assert target.requests == []
    [detail] = _details(sessions, url)
    assert detail.startswith(f"HTTP 302 from {url}")
