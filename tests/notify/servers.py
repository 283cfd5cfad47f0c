"""Real servers on loopback for delivery tests: SMTP (aiosmtpd) and HTTP (webhooks, the SMS API)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Mailbox:
    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server() -> Iterator[tuple[int, Mailbox]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
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
