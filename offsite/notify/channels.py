"""Delivery channels: SMTP e-mail, JSON webhooks (generic, WeCom and DingTalk robots), Aliyun-style SMS.

Each channel sends one message and returns the server's answer, or raises ``DeliveryError``
with it; the outbox records either as an attempt. Standard library clients keep the worker free
of extra services: smtplib for mail, urllib for HTTP.

Each channel checks its address before it connects (``offsite.registry.addresses``): one plain
e-mail address, one telephone number, an ``https`` webhook. Mail goes over TLS with verified
certificates whenever TLS is configured, and a password is never sent over a connection without
it. HTTP redirects are not followed: a webhook answers where it was registered or not at all.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import smtplib
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Protocol

from offsite.registry.addresses import email_problem, internal_address, phone_problem, webhook_problem
from offsite.settings import Settings


class DeliveryError(Exception):
    """An attempt that did not deliver; the message names the server's answer or the fault."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    channel: str
    address: str
    subject: str
    body: str
    template: str | None = None
    params: dict[str, str] | None = None
    key: str | None = None
    """What the message is, the same at every attempt (its outbox rows): a retried e-mail keeps its
    Message-ID, so a server that took the first attempt can drop the second as a duplicate."""


class Channel(Protocol):
    def send(self, message: Outgoing) -> str: ...


@dataclass(frozen=True, slots=True)
class Email:
    settings: Settings

    def send(self, message: Outgoing) -> str:
        s = self.settings
        reason = email_problem(message.address)
        if reason:
            raise DeliveryError(f"e-mail address refused: {reason}")
        tls = s.smtp_implicit_tls or s.smtp_starttls
        if s.smtp_user and not tls:
            raise DeliveryError(
                f"SMTP {s.smtp_host}:{s.smtp_port}: refusing to log in as {s.smtp_user!r} over a connection "
                "without TLS; set OFFSITE_SMTP_STARTTLS or OFFSITE_SMTP_IMPLICIT_TLS"
            )
        mail = EmailMessage()
        mail["From"] = s.smtp_sender
        mail["To"] = message.address
        mail["Subject"] = message.subject
        # RFC 5322 requires both; servers and spam filters mark mail without them, and smtplib adds neither
        mail["Date"] = formatdate(localtime=False)
        domain = _domain(s.smtp_sender)
        mail["Message-ID"] = f"<offsite.{message.key}@{domain}>" if message.key else make_msgid(domain=domain)
        mail.set_content(message.body)
        try:
            context = smtp_tls_context(s) if tls else None
            client = (
                smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=s.notify_timeout, context=context)
                if s.smtp_implicit_tls
                else smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.notify_timeout)
            )
            with client as smtp:
                if s.smtp_starttls and not s.smtp_implicit_tls:
                    smtp.starttls(context=context)
                if s.smtp_user:
                    smtp.login(s.smtp_user, s.smtp_password or "")
                refused = smtp.send_message(mail)
        except (OSError, smtplib.SMTPException) as exc:  # ssl.SSLError is an OSError
            raise DeliveryError(f"SMTP {s.smtp_host}:{s.smtp_port}: {exc}") from exc
        if refused:
            raise DeliveryError(f"SMTP refused {refused}")
        return f"SMTP accepted for {message.address}"


def _domain(sender: str) -> str:
    """The sender's domain, for the Message-ID: ``offsite@hf.gov.cn`` or ``平台 <offsite@hf.gov.cn>``
    gives hf.gov.cn; an address without one gives localhost (never this machine's host name)."""
    _, address = parseaddr(sender)
    domain = address.rpartition("@")[2] if "@" in address else ""
    return domain or "localhost"


def smtp_tls_context(settings: Settings) -> ssl.SSLContext:
    """Certificates and the host name verified: the system's CAs, or ``OFFSITE_SMTP_CA_FILE``'s."""
    cafile = str(settings.smtp_ca_file) if settings.smtp_ca_file else None
    return ssl.create_default_context(cafile=cafile)


def webhook_payload(message: Outgoing) -> dict[str, object]:
    """The JSON body each robot expects (WeCom and DingTalk group robots both take markdown)."""
    text = f"**{message.subject}**\n\n{message.body}"
    if message.channel == "wecom":
        return {"msgtype": "markdown", "markdown": {"content": text}}
    if message.channel == "dingtalk":
        return {"msgtype": "markdown", "markdown": {"title": message.subject, "text": text}}
    return {"subject": message.subject, "body": message.body}


@dataclass(frozen=True, slots=True)
class Webhook:
    settings: Settings

    def send(self, message: Outgoing) -> str:
        s = self.settings
        reason = webhook_problem(
            message.address,
            allow_loopback_http=s.notify_allow_loopback_http,
            allow_internal=s.notify_allow_internal_webhooks,
        ) or (None if s.notify_allow_internal_webhooks else _resolves_inside(message.address))
        if reason:
            raise DeliveryError(f"webhook address refused: {reason}")
        data = json.dumps(webhook_payload(message), ensure_ascii=False).encode()
        request = urllib.request.Request(
            message.address, data=data, method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
        )
        status, answer = _http(request, self.settings.notify_timeout)
        if message.channel in {"wecom", "dingtalk"}:
            # Robots answer 200 with an error code in the body when they refuse a message.
            code = _json_field(answer, "errcode")
            if code not in {0, None}:
                raise DeliveryError(f"{message.channel} robot refused: {answer}")
        return f"HTTP {status}: {answer}"


def _resolves_inside(url: str) -> str | None:
    """Why an https webhook's host name is refused: it resolves to an address of no public network
    (a name can point anywhere; the literal addresses were checked already)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https" or parts.hostname is None:
        return None  # plain http reaches here only to this machine, and only when allowed
    try:
        found = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise DeliveryError(f"webhook host {parts.hostname!r} does not resolve: {exc}") from exc
    for *_, address in found:
        internal = internal_address(str(address[0]))
        if internal:
            return f"{parts.hostname!r} resolves to {internal}; set OFFSITE_NOTIFY_ALLOW_INTERNAL_WEBHOOKS to allow it"
    return None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A 3xx answer is a failed attempt (an HTTPError) rather than a request to somewhere else."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def _http(request: urllib.request.Request, timeout: float) -> tuple[int, str]:
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return response.status, response.read(2000).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        raise DeliveryError(
            f"HTTP {exc.code} from {request.full_url}: {exc.read(500).decode('utf-8', 'replace')}"
        ) from exc
    except (OSError, ValueError) as exc:
        raise DeliveryError(f"{request.full_url}: {exc}") from exc


def _json_field(text: str, field: str) -> object:
    try:
        document = json.loads(text)
    except ValueError:
        return None
    return document.get(field) if isinstance(document, dict) else None


def percent_encode(value: str) -> str:
    """RFC 3986 encoding as the Aliyun RPC signature defines it (space %20, ``~`` kept)."""
    return urllib.parse.quote(value, safe="-_.~")


def sign_rpc(params: dict[str, str], secret: str, method: str = "GET") -> str:
    """Aliyun RPC signature: HMAC-SHA1 over the method, "/" and the sorted, encoded query."""
    query = "&".join(f"{percent_encode(k)}={percent_encode(params[k])}" for k in sorted(params))
    to_sign = f"{method}&{percent_encode('/')}&{percent_encode(query)}"
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


@dataclass(frozen=True, slots=True)
class Sms:
    """The Aliyun ``SendSms`` API (version 2017-05-25): a template code and its parameters."""

    settings: Settings

    def send(self, message: Outgoing) -> str:
        s = self.settings
        if not (s.sms_access_key_id and s.sms_access_key_secret):
            raise DeliveryError("SMS gateway not configured: set OFFSITE_SMS_ACCESS_KEY_ID and _SECRET")
        if not message.template:
            raise DeliveryError("an SMS needs an approved template code; this message has none")
        reason = phone_problem(message.address)
        if reason:
            raise DeliveryError(f"mobile number refused: {reason}")
        params = {
            "AccessKeyId": s.sms_access_key_id,
            "Action": "SendSms",
            "Format": "JSON",
            "PhoneNumbers": message.address,
            "RegionId": "cn-hangzhou",
            "SignName": s.sms_sign_name,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "TemplateCode": message.template,
            "TemplateParam": json.dumps(message.params or {}, ensure_ascii=False),
            "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": "2017-05-25",
        }
        params["Signature"] = sign_rpc(params, s.sms_access_key_secret)
        url = f"{s.sms_endpoint}?{urllib.parse.urlencode(params, quote_via=urllib.parse.quote)}"
        status, answer = _http(urllib.request.Request(url, method="GET"), s.notify_timeout)
        code = _json_field(answer, "Code")
        if code != "OK":
            raise DeliveryError(f"SMS gateway answered {code or status}: {answer}")
        return f"SMS accepted: {answer}"


def channels_for(settings: Settings) -> dict[str, Channel]:
    webhook = Webhook(settings)
    return {"email": Email(settings), "webhook": webhook, "wecom": webhook, "dingtalk": webhook, "sms": Sms(settings)}
