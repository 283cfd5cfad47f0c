"""The outbox delivers to real servers on loopback, retries with backoff, never sends an event twice."""

from __future__ import annotations

import email.header
import json
import urllib.parse
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from offsite.notify.channels import channels_for
from offsite.notify.models import DeliveryAttempt, OutboxMessage
from offsite.notify.outbox import UnknownChannel, deliver_due, enqueue
from offsite.settings import Settings
from tests.notify.servers import Recorder, http_server, smtp_server

NOW = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)  # 10:00 China time


def _settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "notify_retry_base": 60.0,
        "notify_max_attempts": 4,
        "notify_timeout": 5.0,
        "notify_allow_loopback_http": True,  # the test servers speak plain http on 127.0.0.1
    }
    return Settings(**(base | overrides))


def _enqueue(sessions: sessionmaker[Session], key: str, channel: str, address: str, **extra: Any) -> bool:
    with sessions() as session:
        added = enqueue(
            session,
            event_key=key,
            channel=channel,
            address=address,
            subject=extra.pop("subject", f"alarm {key}"),
            body=extra.pop("body", "COD daily average 61.2 mg/L over the limit 50"),
            now=extra.pop("now", NOW),
            **extra,
        )
        session.commit()
        return added


def _attempts(sessions: sessionmaker[Session]) -> list[DeliveryAttempt]:
    with sessions() as session:
        return list(session.scalars(select(DeliveryAttempt).order_by(DeliveryAttempt.id)))


def _messages(sessions: sessionmaker[Session]) -> list[OutboxMessage]:
    with sessions() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_email_is_delivered_once_per_event(sessions: sessionmaker[Session]) -> None:
    with smtp_server() as (port, mailbox):
        settings = _settings(smtp_port=port)
        assert _enqueue(sessions, "alarm:1:red", "email", "officer@hf.example")
        assert not _enqueue(sessions, "alarm:1:red", "email", "officer@hf.example")  # a recomputation
        first = deliver_due(sessions, channels_for(settings), settings, NOW)
        second = deliver_due(sessions, channels_for(settings), settings, NOW + timedelta(hours=1))

    assert (first.sent, second.sent) == (1, 0)
    assert len(mailbox.messages) == 1
    assert mailbox.messages[0]["Subject"] == "alarm alarm:1:red"
    assert mailbox.messages[0]["To"] == "officer@hf.example"
    [attempt] = _attempts(sessions)
    assert attempt.ok
    assert "officer@hf.example" in attempt.detail


def test_webhook_that_fails_then_recovers_is_retried_with_backoff(sessions: sessionmaker[Session]) -> None:
    recorder = Recorder(fail_first=2, answer={"ok": True})
    with http_server(recorder) as url:
        settings = _settings()
        channels = channels_for(settings)
        _enqueue(sessions, "alarm:2:orange", "webhook", url)
        assert deliver_due(sessions, channels, settings, NOW).retried == 1
        # Not yet due: the first retry waits notify_retry_base seconds.
        assert deliver_due(sessions, channels, settings, NOW + timedelta(seconds=59)).retried == 0
        assert deliver_due(sessions, channels, settings, NOW + timedelta(seconds=60)).retried == 1
        # The second retry waits twice as long: 60 + 120 seconds after the start.
        assert deliver_due(sessions, channels, settings, NOW + timedelta(seconds=179)).sent == 0
        assert deliver_due(sessions, channels, settings, NOW + timedelta(seconds=180)).sent == 1

    assert len(recorder.requests) == 3
    assert json.loads(recorder.requests[-1][2]) == {
        "subject": "alarm alarm:2:orange",
        "body": "COD daily average 61.2 mg/L over the limit 50",
    }
    attempts = _attempts(sessions)
    assert [a.ok for a in attempts] == [False, False, True]
    assert "HTTP 500" in attempts[0].detail
    [message] = _messages(sessions)
    assert (message.state, message.attempts) == ("sent", 3)


def test_a_message_that_never_gets_through_ends_failed_with_every_attempt_kept(
    sessions: sessionmaker[Session],
) -> None:
    recorder = Recorder(fail_first=100)
    with http_server(recorder) as url:
        settings = _settings(notify_max_attempts=3, notify_retry_base=1.0)
        channels = channels_for(settings)
        _enqueue(sessions, "alarm:3:blue", "webhook", url)
        outcomes = [deliver_due(sessions, channels, settings, NOW + timedelta(minutes=i)) for i in range(5)]

    assert [o.failed for o in outcomes] == [0, 0, 1, 0, 0]
    assert len(recorder.requests) == 3
    [message] = _messages(sessions)
    assert message.state == "failed"
    assert len(_attempts(sessions)) == 3


def test_wecom_and_dingtalk_robots_get_their_markdown_formats(sessions: sessionmaker[Session]) -> None:
    recorder = Recorder(answer={"errcode": 0, "errmsg": "ok"})
    with http_server(recorder) as url:
        settings = _settings()
        _enqueue(sessions, "alarm:4:red", "wecom", url + "wecom")
        _enqueue(sessions, "alarm:4:red", "dingtalk", url + "dingtalk")
        assert deliver_due(sessions, channels_for(settings), settings, NOW).sent == 2

    bodies = {path: json.loads(body) for _, path, body in recorder.requests}
    assert bodies["/wecom"]["msgtype"] == "markdown"
    assert bodies["/wecom"]["markdown"]["content"].startswith("**alarm alarm:4:red**")
    assert bodies["/dingtalk"]["markdown"]["title"] == "alarm alarm:4:red"


def test_a_robot_that_answers_200_with_an_error_code_is_a_failed_attempt(sessions: sessionmaker[Session]) -> None:
    recorder = Recorder(answer={"errcode": 93000, "errmsg": "invalid webhook url"})
    with http_server(recorder) as url:
        settings = _settings()
        _enqueue(sessions, "alarm:5:red", "wecom", url)
        report = deliver_due(sessions, channels_for(settings), settings, NOW)

    assert (report.sent, report.retried) == (0, 1)
    assert "93000" in _attempts(sessions)[0].detail


def test_sms_goes_through_the_aliyun_api_signed_with_template_and_parameters(
    sessions: sessionmaker[Session],
) -> None:
    recorder = Recorder(answer={"Code": "OK", "BizId": "1"}, sms_secret="s3cret")
    with http_server(recorder) as url:
        settings = _settings(sms_endpoint=url, sms_access_key_id="AK", sms_access_key_secret="s3cret")
        _enqueue(sessions, "alarm:6:red", "sms", "13800000000", template="SMS_1", params={"unit": "某化工厂"})
        assert deliver_due(sessions, channels_for(settings), settings, NOW).sent == 1
        # The same request signed with another secret is refused by the gateway.
        wrong = _settings(sms_endpoint=url, sms_access_key_id="AK", sms_access_key_secret="other")
        _enqueue(sessions, "alarm:7:red", "sms", "13800000000", template="SMS_1", params={"unit": "x"})
        assert deliver_due(sessions, channels_for(wrong), wrong, NOW).retried == 1

    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(recorder.requests[0][1]).query))
    assert query["Action"] == "SendSms"
    assert query["PhoneNumbers"] == "13800000000"
    assert query["TemplateCode"] == "SMS_1"
    assert json.loads(query["TemplateParam"]) == {"unit": "某化工厂"}
    assert "SignatureDoesNotMatch" in _attempts(sessions)[-1].detail


def test_an_sms_without_a_template_is_an_attempt_naming_what_is_missing(sessions: sessionmaker[Session]) -> None:
    settings = _settings(sms_endpoint="http://127.0.0.1:9/", sms_access_key_id="AK", sms_access_key_secret="k")
    _enqueue(sessions, "alarm:8:red", "sms", "13800000000")
    deliver_due(sessions, channels_for(settings), settings, NOW)
    assert "template" in _attempts(sessions)[0].detail


def test_daily_cap_holds_the_rest_and_a_digest_follows_the_next_day(sessions: sessionmaker[Session]) -> None:
    recorder = Recorder(answer={"Code": "OK"}, sms_secret="k")
    with http_server(recorder) as url:
        settings = _settings(notify_daily_cap=2, sms_endpoint=url, sms_access_key_id="AK", sms_access_key_secret="k")
        for n in range(4):
            _enqueue(sessions, f"alarm:{n}:blue", "sms", "13900000000", template="SMS_1", params={"n": str(n)})
        today = deliver_due(sessions, channels_for(settings), settings, NOW)
        later_today = deliver_due(sessions, channels_for(settings), settings, NOW + timedelta(hours=5))
        tomorrow = deliver_due(sessions, channels_for(settings), settings, NOW + timedelta(days=1))

    assert (today.sent, today.held) == (2, 2)
    assert (later_today.sent, later_today.digests) == (0, 0)
    assert (tomorrow.digests, tomorrow.sent) == (1, 1)
    digest_query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(recorder.requests[-1][1]).query))
    assert digest_query["TemplateCode"] == settings.sms_digest_template
    assert json.loads(digest_query["TemplateParam"]) == {"count": "2", "day": "2026-11-29"}
    states = [m.state for m in _messages(sessions)]
    assert states == ["sent", "sent", "held", "held", "sent"]


def test_messages_due_together_for_one_address_go_as_one_email(sessions: sessionmaker[Session]) -> None:
    with smtp_server() as (port, mailbox):
        settings = _settings(smtp_port=port)
        for n in range(3):
            _enqueue(sessions, f"alarm:{n}:yellow", "email", "county@example.cn")
        _enqueue(sessions, "alarm:0:yellow", "email", "city@example.cn")
        report = deliver_due(sessions, channels_for(settings), settings, NOW)

    assert report.sent == 4
    assert sorted(m["To"] for m in mailbox.messages) == ["city@example.cn", "county@example.cn"]
    grouped = next(m for m in mailbox.messages if m["To"] == "county@example.cn")
    assert "共 3 条通知" in str(email.header.make_header(email.header.decode_header(grouped["Subject"])))
    assert "alarm:2:yellow" in grouped.get_payload()


def test_an_unreachable_smtp_server_is_retried_not_lost(sessions: sessionmaker[Session]) -> None:
    settings = _settings(smtp_port=9)  # nothing listens on the discard port on loopback
    _enqueue(sessions, "alarm:9:red", "email", "a@example.cn")
    report = deliver_due(sessions, channels_for(settings), settings, NOW)
    assert report.retried == 1
    [message] = _messages(sessions)
    assert message.state == "pending"
    assert message.next_attempt_at == NOW + timedelta(seconds=60)


def test_an_unknown_channel_is_refused_when_enqueued(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(UnknownChannel, match="'fax'"):
        _enqueue(sessions, "alarm:1:red", "fax", "0551-1234567")
    assert _messages(sessions) == []
