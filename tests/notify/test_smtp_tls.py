"""Mail goes over TLS with the server's certificate verified, and a password never goes without TLS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from offsite.notify.channels import DeliveryError, Email, Outgoing
from offsite.settings import Settings
from tests.notify.servers import loopback_certificate, smtp_server

MAIL = Outgoing("email", "officer@hf.example", "alarm", "COD daily average over the limit")


def _email(port: int, **overrides: Any) -> Email:
    return Email(Settings(smtp_host="127.0.0.1", smtp_port=port, notify_timeout=5.0, **overrides))


def test_a_login_without_tls_is_refused_before_the_password_leaves() -> None:
    with smtp_server(auth=True) as (port, mailbox):  # a server that would take a password in clear
        email = _email(port, smtp_user="offsite", smtp_password="s3cret")
        with pytest.raises(DeliveryError, match="refusing to log in as 'offsite' over a connection without TLS"):
            email.send(MAIL)
    assert mailbox.logins == []
    assert mailbox.messages == []


def test_starttls_verifies_the_certificate_then_logs_in(tmp_path: Path) -> None:
    certificate = loopback_certificate(tmp_path)
    with smtp_server(starttls=certificate, auth=True) as (port, mailbox):
        email = _email(port, smtp_user="offsite", smtp_password="s3cret", smtp_starttls=True)
        # Not signed by a CA the system trusts: the handshake fails before the password is sent.
        with pytest.raises(DeliveryError, match="CERTIFICATE_VERIFY_FAILED"):
            email.send(MAIL)
        assert mailbox.logins == []

        trusted = _email(
            port, smtp_user="offsite", smtp_password="s3cret", smtp_starttls=True, smtp_ca_file=certificate.cert
        )
        assert trusted.send(MAIL) == "SMTP accepted for officer@hf.example"
    assert mailbox.logins == [("offsite", "s3cret", True)]
    assert [m["To"] for m in mailbox.messages] == ["officer@hf.example"]


def test_a_trusted_certificate_for_another_host_is_refused(tmp_path: Path) -> None:
    certificate = loopback_certificate(tmp_path, names=("mail.example.cn",))
    with smtp_server(starttls=certificate) as (port, mailbox):
        email = _email(port, smtp_starttls=True, smtp_ca_file=certificate.cert)
        with pytest.raises(DeliveryError, match="CERTIFICATE_VERIFY_FAILED"):
            email.send(MAIL)
    assert mailbox.messages == []


def test_implicit_tls_sends_over_smtps(tmp_path: Path) -> None:
    certificate = loopback_certificate(tmp_path)
    with smtp_server(implicit_tls=certificate, auth=True) as (port, mailbox):
        email = _email(
            port, smtp_user="offsite", smtp_password="s3cret", smtp_implicit_tls=True, smtp_ca_file=certificate.cert
        )
        assert email.send(MAIL) == "SMTP accepted for officer@hf.example"
        with pytest.raises(DeliveryError, match="CERTIFICATE_VERIFY_FAILED"):
            _email(port, smtp_implicit_tls=True).send(MAIL)
    assert mailbox.logins == [("offsite", "s3cret", True)]
    assert len(mailbox.messages) == 1


def test_a_server_without_starttls_is_a_failed_attempt_not_a_plain_login() -> None:
    with smtp_server(auth=True) as (port, mailbox):
        email = _email(port, smtp_user="offsite", smtp_password="s3cret", smtp_starttls=True)
        with pytest.raises(DeliveryError, match="STARTTLS"):
            email.send(MAIL)
    assert mailbox.logins == []
