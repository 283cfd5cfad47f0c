"""The address rules shared by the registry import and the notification channels."""

from __future__ import annotations

import socket

import pytest

from offsite.notify.channels import DeliveryError, Outgoing, Webhook
from offsite.registry.addresses import email_problem, is_loopback, phone_problem, webhook_problem
from offsite.settings import Settings


@pytest.mark.parametrize("value", ["officer@hf.example", "zhang.san+alarms@hf.gov.cn", "a@例子.中国"])
def test_plain_email_addresses_pass(value: str) -> None:
    assert email_problem(value) is None


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("a@b.cn\r\nBcc: x@y.cn", "contains control characters (\\n, \\r)"),
        ("a@b.cn\nBcc: x@y.cn", "contains control characters (\\n)"),
        ("a@b.cn\x00", "contains control characters (\\x00)"),
        ("a@b.cn\u2028x", "contains control characters (\\u2028)"),
        ("张三 <a@b.cn>", "is not one plain e-mail address"),
        ("a@b.cn;x@y.cn", "is not one plain e-mail address"),
        ("a@b@c.cn", "is not one plain e-mail address"),
        ("a b@c.cn", "the part before @ is not valid"),
        ("a..b@c.cn", "the part before @ is not valid"),
        ("a@localhost", "'localhost' is not a domain name"),
        ("a@-x.cn", "is not a domain name"),
        ("zhangsan", "is not an e-mail address"),
        ("@b.cn", "is not an e-mail address"),
    ],
)
def test_anything_but_one_plain_email_address_is_refused_by_value(value: str, reason: str) -> None:
    problem = email_problem(value)
    assert problem is not None
    assert problem.startswith(repr(value))
    assert reason in problem


@pytest.mark.parametrize(
    "value",
    ["https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc", "https://oapi.dingtalk.com/robot/send?access_token=x"],
)
def test_https_webhooks_pass(value: str) -> None:
    assert webhook_problem(value) is None


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc", "is not a URL: it needs https:// and a host"),
        ("//qyapi.weixin.qq.com/x", "is not a URL: it needs https:// and a host"),
        ("https:///path", "names no host"),
        ("http://hooks.example.cn/x", "is plain http; webhooks must use https"),
        ("http://10.0.0.5/x", "is plain http; webhooks must use https"),
        ("http://127.0.0.1:8080/", "set OFFSITE_NOTIFY_ALLOW_LOOPBACK_HTTP"),
        ("ftp://example.cn/x", "is not an https URL (scheme 'ftp')"),
        ("file:///etc/passwd", "is not an https URL"),
        ("https://x.cn:port/", "is not a URL"),
        ("https://x.cn/a\r\nHost: y", "contains control characters"),
        ("https://x.cn/a b", "contains white space"),
    ],
)
def test_other_webhooks_are_refused_by_value(value: str, reason: str) -> None:
    problem = webhook_problem(value)
    assert problem is not None
    assert repr(value)[:20] in problem
    assert reason in problem


def test_plain_http_only_to_loopback_and_only_when_allowed() -> None:
    for url in (
        "http://127.0.0.1:8080/",
        "http://127.8.9.10/",
        "http://[::1]:9/",
        "http://localhost/",
        "http://LOCALHOST./",
    ):
        assert webhook_problem(url, allow_loopback_http=True) is None, url
        assert webhook_problem(url) is not None, url
    for url in ("http://128.0.0.1/", "http://[::ffff:127.0.0.1]/", "http://localhost.example.cn/", "http://0.0.0.0/"):
        assert webhook_problem(url, allow_loopback_http=True) is not None, url
    assert is_loopback("127.0.0.1")
    assert not is_loopback("10.0.0.1")


@pytest.mark.parametrize("value", ["13800000000", "+86 138 0000 0000", "0551-65123456"])
def test_telephone_numbers_pass(value: str) -> None:
    assert phone_problem(value) is None


@pytest.mark.parametrize("value", ["138,139", "1380000\n0000", "1234", "138-", "tel:13800000000", "+86 (0)138"])
def test_anything_but_one_telephone_number_is_refused(value: str) -> None:
    problem = phone_problem(value)
    assert problem is not None
    assert problem.startswith(repr(value))


@pytest.mark.parametrize(
    "value",
    [
        "https://169.254.169.254/latest/meta-data/",  # a cloud's metadata endpoint
        "https://[::1]/",
        "https://2130706433/",  # 127.0.0.1 spelt as one decimal number
        "https://0x7f000001/",
        "https://10.0.0.5/hook",
        "https://[fd00::1]/",
        "https://localhost/",
        "https://[64:ff9b::a00:1]/",  # NAT64 to 10.0.0.1
        "https://[2002:7f00:1::]/",  # 6to4 around 127.0.0.1
        "https://[::127.0.0.1]/",  # IPv4-compatible
    ],
)
def test_https_webhooks_to_no_public_network_are_refused_unless_allowed(value: str) -> None:
    problem = webhook_problem(value)
    assert problem is not None
    assert "OFFSITE_NOTIFY_ALLOW_INTERNAL_WEBHOOKS" in problem
    assert webhook_problem(value, allow_internal=True) is None


def test_a_user_name_before_the_host_is_refused() -> None:
    problem = webhook_problem("https://example.cn\\@127.0.0.1/")
    assert problem is not None
    assert "user name before its host" in problem


def test_a_name_that_resolves_inside_is_refused_at_send_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """A public-looking name can point at the metadata endpoint: the answer of the resolver counts."""
    resolved = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 443))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: resolved)
    message = Outgoing("webhook", "https://hooks.example.cn/robot", "s", "b")
    with pytest.raises(DeliveryError, match="resolves to a non-public address"):
        Webhook(Settings()).send(message)
