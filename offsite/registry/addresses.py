"""Where a contact is reached: e-mail addresses, mobile numbers and webhook URLs, checked before use.

Each check returns the reason a value is refused, or None. The registry import refuses a bad
address on its row; the notification channels check again before sending (an address may also
come from ``offsite notify test`` or an older import), so that a line break in an address can
never become a header of its own, nor a URL without a scheme an exception in the delivery pass.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import unicodedata
import urllib.parse

EMAIL_MAX = 254
"""RFC 5321's limit on a forward path."""

URL_MAX = 512
"""The outbox keeps at most this many characters of an address."""

_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_PHONE = re.compile(r"\+?[0-9]+([ -][0-9]+)*")  # one way to match each string: no backtracking blow-up


def control_characters(value: str) -> list[str]:
    """The control and line-breaking characters in ``value``, as escapes (``\\r``, ``\\x00``, ``\\u2028``)."""
    found = [c for c in value if unicodedata.category(c) in {"Cc", "Cf", "Zl", "Zp"}]
    return sorted({repr(c)[1:-1] for c in found})


def email_problem(value: str) -> str | None:
    """Why ``value`` is not one plain address (``name@example.cn``): no display name, no list."""
    controls = control_characters(value)
    if controls:
        return f"{value!r} contains control characters ({', '.join(controls)}); give one address"
    if len(value) > EMAIL_MAX:
        return f"{value!r} is {len(value)} characters long; an address has at most {EMAIL_MAX}"
    if value.count("@") > 1 or any(c in value for c in ",;<>"):
        return f"{value!r} is not one plain e-mail address; give one address without a name (name@example.cn)"
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain:
        return f"{value!r} is not an e-mail address (name@example.cn)"
    if not _LOCAL.fullmatch(local) or len(local) > 64:
        return f"{value!r} is not one e-mail address (name@example.cn): the part before @ is not valid"
    domain_reason = _domain_problem(domain)
    if domain_reason:
        return f"{value!r} is not an e-mail address: {domain_reason}"
    return None


def _domain_problem(domain: str) -> str | None:
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return f"{domain!r} is not a domain name"
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        return f"{domain!r} is not a domain name (example.cn)"
    return None


def phone_problem(value: str) -> str | None:
    """Why ``value`` is not one telephone number (digits, an optional leading +, spaces or hyphens)."""
    controls = control_characters(value)
    if controls:
        return f"{value!r} contains control characters ({', '.join(controls)}); give one number"
    digits = sum(c.isdigit() for c in value)
    if len(value) > 24 or not 5 <= digits <= 15 or not _PHONE.fullmatch(value):
        return f"{value!r} is not one telephone number (e.g. 13800000000 or +86 138 0000 0000)"
    return None


def is_loopback(host: str) -> bool:
    """``localhost`` or an address in 127.0.0.0/8 or ::1."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def internal_address(host: str) -> str | None:
    """What ``host`` is, if it is an address of no public network: loopback, private, link-local
    (cloud metadata at 169.254.169.254), reserved — in any spelling an HTTP client accepts
    (``2130706433``, ``0x7f000001``, ``[::1]``). None for a public address or a name."""
    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        try:  # the forms inet_aton takes: decimal, hex and octal, dotted or not
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None if host.lower().rstrip(".") != "localhost" else "this machine (localhost)"
    embedded = _embedded_ipv4(address)
    if address.is_global and (embedded is None or embedded.is_global):
        return None
    return f"a non-public address ({address})"


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_COMPATIBLE = ipaddress.ip_network("::/96")


def _embedded_ipv4(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (NAT64, 6to4, Teredo, mapped, compatible), which is
    where a packet to it may end up."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64 or address in _COMPATIBLE:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def webhook_problem(value: str, *, allow_loopback_http: bool = False, allow_internal: bool = False) -> str | None:
    """Why ``value`` is not a webhook URL Offsite posts to: ``https://`` and a host.

    Plain ``http`` is accepted only to this machine (``localhost``, 127.0.0.0/8, ::1) and only
    when ``allow_loopback_http`` is set (``OFFSITE_NOTIFY_ALLOW_LOOPBACK_HTTP``: tests, the demo).
    An https URL whose host is an address of no public network is refused unless
    ``allow_internal`` (``OFFSITE_NOTIFY_ALLOW_INTERNAL_WEBHOOKS``): a contact's webhook must not
    make the platform call its own services or the cloud's metadata endpoint.
    """
    controls = control_characters(value)
    if controls:
        return f"{value!r} contains control characters ({', '.join(controls)})"
    if any(c.isspace() for c in value):
        return f"{value!r} contains white space"
    if len(value) > URL_MAX:
        return f"{value[:60]!r}… is {len(value)} characters long; a webhook URL has at most {URL_MAX}"
    try:
        parts = urllib.parse.urlsplit(value)
        if parts.port == 0:  # reading the port also refuses one that is not a number
            return f"{value!r} names port 0"
    except ValueError as exc:
        return f"{value!r} is not a URL ({exc})"
    scheme, host = parts.scheme.lower(), parts.hostname
    if not scheme or "://" not in value:
        return f"{value!r} is not a URL: it needs https:// and a host"
    if scheme not in {"https", "http"}:
        return f"{value!r} is not an https URL (scheme {parts.scheme!r})"
    if not host:
        return f"{value!r} names no host"
    if "@" in parts.netloc:
        return f"{value!r} carries a user name before its host (…@host): not a webhook address"
    if scheme == "https":
        internal = internal_address(host)
        if internal and not allow_internal:
            return (
                f"{value!r} points at {internal}: set OFFSITE_NOTIFY_ALLOW_INTERNAL_WEBHOOKS to post to "
                "addresses inside the bureau's network"
            )
        return None
    if not is_loopback(host):
        return f"{value!r} is plain http; webhooks must use https"
    if allow_loopback_http:
        return None
    return f"{value!r} is plain http; set OFFSITE_NOTIFY_ALLOW_LOOPBACK_HTTP to post to this machine without TLS"
