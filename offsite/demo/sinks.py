"""Where the demo's notifications land: a real SMTP server and a file-backed SMS gateway, both on
loopback, so that the platform's real channels deliver and nothing leaves the machine.

The SMS gateway speaks the part of Aliyun's ``SendSms`` API the platform uses: it checks the
request's HMAC-SHA1 signature with the demo's key, appends the message to a JSON-lines file and
answers ``{"Code": "OK"}``; a request with a bad signature is refused as Aliyun refuses it.
"""

from __future__ import annotations

import json
import mailbox
import secrets
import socket
import threading
import urllib.parse
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox

from offsite.notify.channels import sign_rpc
from offsite.settings import Settings


class Sinks:
    """Start with ``start()``; ``settings()`` then points the platform's channels at them."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.maildir = directory / "mail"
        self.sms_file = directory / "sms.jsonl"
        self.secret = secrets.token_hex(16)
        self._smtp_port = _free_port()
        self._smtp = Controller(Mailbox(self.maildir), hostname="127.0.0.1", port=self._smtp_port)
        self._sms = ThreadingHTTPServer(("127.0.0.1", 0), _sms_handler(self.sms_file, self.secret))
        self._thread = threading.Thread(target=self._sms.serve_forever, name="demo-sms", daemon=True)

    def start(self) -> None:
        self._smtp.start()
        self._thread.start()

    def stop(self) -> None:
        self._smtp.stop()
        self._sms.shutdown()
        self._sms.server_close()

    @property
    def smtp_port(self) -> int:
        return self._smtp_port

    @property
    def sms_endpoint(self) -> str:
        return f"http://127.0.0.1:{self._sms.server_address[1]}/"

    def settings(self, base: Settings) -> Settings:
        return base.model_copy(
            update={
                "smtp_host": "127.0.0.1",
                "smtp_port": self.smtp_port,
                "smtp_sender": "offsite-demo@localhost",
                "smtp_user": None,
                "smtp_password": None,
                "smtp_starttls": False,
                "sms_endpoint": self.sms_endpoint,
                "sms_access_key_id": "offsite-demo",
                "sms_access_key_secret": self.secret,
            }
        )

    def counts(self) -> dict[str, int]:
        """Messages received so far, by channel."""
        return {"email": count_mail(self.maildir), "sms": count_sms(self.sms_file)}


def _free_port() -> int:
    # aiosmtpd checks readiness by connecting to its own port, so it needs a real one up front
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def count_mail(maildir: Path) -> int:
    return len(mailbox.Maildir(maildir, create=False)) if (maildir / "new").exists() else 0


def count_sms(path: Path) -> int:
    if not path.exists():
        return 0
    with open(path, encoding="utf-8") as fh:
        return sum(1 for _ in fh)


def _sms_handler(path: Path, secret: str) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query, keep_blank_values=True))
            signature = query.pop("Signature", "")
            if query.get("Action") != "SendSms":
                self._answer(400, {"Code": "InvalidAction", "Message": f"unknown action {query.get('Action')!r}"})
            elif not secrets.compare_digest(signature, sign_rpc(query, secret)):
                self._answer(400, {"Code": "SignatureDoesNotMatch", "Message": "Specified signature is not matched"})
            else:
                record = {
                    "received": datetime.now(UTC).isoformat(),
                    "phone": query.get("PhoneNumbers"),
                    "sign": query.get("SignName"),
                    "template": query.get("TemplateCode"),
                    "params": json.loads(query.get("TemplateParam") or "{}"),
                }
                with lock, open(path, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(record, ensure_ascii=False) + "\n")
                self._answer(200, {"Code": "OK", "Message": "OK", "BizId": secrets.token_hex(8)})

        def _answer(self, status: int, body: dict[str, str]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass  # the file is the log

    return Handler
