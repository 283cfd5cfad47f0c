"""One exception hierarchy for everything the codec can reject.

Each class carries a stable machine-readable ``code`` that the CLI, the gateway's archive and
the tests rely on; the message names the offending field and value.
"""

from __future__ import annotations

from typing import ClassVar


class HJ212Error(ValueError):
    """Base of every error the HJ 212 codec raises."""

    code: ClassVar[str] = "hj212_error"

    def __init__(self, message: str, *, field: str | None = None, value: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.value = value


class FramingError(HJ212Error):
    """The byte stream does not hold a well-formed frame here."""


class NoHeader(FramingError):
    code = "no_header"


class BadLength(FramingError):
    code = "bad_length"


class TooLong(FramingError):
    code = "too_long"


class Truncated(FramingError):
    code = "truncated"


class BadTerminator(FramingError):
    code = "bad_terminator"


class CrcMismatch(HJ212Error):
    code = "crc_mismatch"

    def __init__(self, message: str, *, declared: str, computed: str) -> None:
        super().__init__(message, field="CRC", value=declared)
        self.declared = declared
        self.computed = computed


class SegmentError(HJ212Error):
    """The data segment (``QN=…&&``) is malformed."""


class BadEncoding(SegmentError):
    code = "bad_encoding"


class BadHeaderField(SegmentError):
    code = "bad_header_field"


class BadCp(SegmentError):
    code = "bad_cp"


class BadTime(SegmentError):
    code = "bad_time"


class UnknownVersion(SegmentError):
    code = "unknown_version"


class EncodeError(HJ212Error):
    """A packet cannot be written as HJ 212 (a separator inside a value, too long …)."""

    code = "unencodable"
