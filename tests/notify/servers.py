"""Real servers on loopback for delivery tests: SMTP (aiosmtpd, optionally with STARTTLS, implicit
TLS and AUTH) and HTTP (webhooks, the SMS API)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Mailbox:
    messages: list[Message] = field(default_factory=list)
    logins: list[tuple[str, str, bool]] = field(default_factory=list)
    """(user, password, over TLS) for every AUTH the server was given."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        user, password = auth_data.login.decode(), auth_data.password.decode()
        tls = server.transport is not None and server.transport.get_extra_info("sslcontext") is not None
        self.logins.append((user, password, tls))
        return AuthResult(success=True)


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate (for 127.0.0.1 and localhost unless told): its PEM file is also its CA file."""

    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def loopback_certificate(directory: Path, names: tuple[str, ...] = ("127.0.0.1", "localhost")) -> Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    alternative: list[x509.GeneralName] = []
    for host in names:
        try:
            alternative.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alternative.append(x509.DNSName(host))
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "offsite test SMTP")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    paths = Certificate(directory / "smtp-cert.pem", directory / "smtp-key.pem")
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


@contextmanager
def smtp_server(
    *, starttls: Certificate | None = None, implicit_tls: Certificate | None = None, auth: bool = False
) -> Iterator[tuple[int, Mailbox]]:
    """An SMTP server on loopback. ``auth``: it takes any user and password, even without TLS,
    and records them, so that a test sees whether a client would have sent its password in clear."""
    mailbox = Mailbox()
    port = free_port()
    options: dict[str, Any] = {}
    if starttls is not None:
        options["tls_context"] = starttls.server_context()
    if implicit_tls is not None:
        options["ssl_context"] = implicit_tls.server_context()
    if auth:
        options |= {"authenticator": mailbox.authenticate, "auth_require_tls": False}
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield port, mailbox
    finally:
        controller.stop()


@dataclass
class Recorder:
    """What the HTTP server received, and how many requests it should fail before it recovers."""

    fail_first: int = 0
    answer: dict[str, Any] = field(default_factory=dict)
    requests: list[tuple[str, str, bytes]] = field(default_factory=list)
    sms_secret: str | None = None
    """When set, GET requests are checked against the Aliyun RPC signature with this secret."""
    redirect: str | None = None
    """When set, every request is answered 302 to this location."""


def _aliyun_signature(query: dict[str, str], secret: str) -> str:
    # Written from the published algorithm, independently of offsite.notify.channels.
    def enc(text: str) -> str:
        return urllib.parse.quote(text, safe="~")

    canonical = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(query.items()))
    string_to_sign = "GET&" + enc("/") + "&" + enc(canonical)
    mac = hmac.new((secret + "&").encode(), string_to_sign.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def _handler(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test reads the recorder."""

        def _reply(self, status: int, document: dict[str, Any]) -> None:
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _handle(self, body: bytes) -> None:
            recorder.requests.append((self.command, self.path, body))
            if recorder.redirect is not None:
                self.send_response(302)
                self.send_header("Location", recorder.redirect)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if len(recorder.requests) <= recorder.fail_first:
                self._reply(500, {"error": "temporarily unavailable"})
                return
            if recorder.sms_secret is not None:
                query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
                signature = query.pop("Signature", "")
                if signature != _aliyun_signature(query, recorder.sms_secret):
                    self._reply(200, {"Code": "SignatureDoesNotMatch", "Message": "bad signature"})
                    return
            self._reply(200, recorder.answer)

        def do_GET(self) -> None:
            self._handle(b"")

        def do_POST(self) -> None:
            self._handle(self.rfile.read(int(self.headers.get("Content-Length", "0"))))

    return Handler


@contextmanager
def http_server(recorder: Recorder) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(recorder))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
