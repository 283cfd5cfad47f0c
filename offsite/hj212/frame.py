"""Finding HJ 212 frames in a byte stream.

A frame is ``##`` + 4 decimal digits (the data segment's length in bytes) + the data segment
+ 4 hex digits of CRC + CRLF. TCP gives no message boundaries, devices send garbage, wrong
lengths, bare LF or no terminator at all, so the scanner:

- resynchronises on the next ``##`` after anything it cannot read, and reports each run of bytes
  that belongs to no frame as one ``no_header`` fault (runs of bare CR/LF/blanks are separators);
- keeps a partial frame for the next ``feed`` and only calls it truncated at ``close``, so that
  what it returns never depends on how the stream was cut into reads (``flush`` releases a frame
  from a logger that sends no terminator, once the caller has seen the line go quiet; a run of
  more than 64 KiB of junk is reported in pieces that do depend on the reads, to bound memory);
- uses the fact that a data segment never holds LF or ``##``: finding one inside the declared
  length proves the length wrong, and the fault names the length actually seen.

Checking the CRC and reading the segment is the decoder's work, not the scanner's.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from offsite.hj212.errors import (
    BadLength,
    BadTerminator,
    FramingError,
    HJ212Error,
    NoHeader,
    TooLong,
    Truncated,
)

STANDARD_MAX_LENGTH = 1024
"""The standard's limit on the data segment (2005 and 2017)."""

LENIENT_MAX_LENGTH = 4096
"""Real devices send 1,045 and 1,623 bytes unsplit; the default accepts them."""

_HEX = b"0123456789abcdefABCDEF"
_DIGITS = frozenset(b"0123456789")
_BLANKS = frozenset(b" \t\r\n")
_MAX_JUNK = 65536
_MAX_BAD_FRAME = 2 + 4 + 9999 + 4 + 2
"""The longest a frame can be; a bad frame with no LF or ``##`` in this span is cut here."""


class Terminator(StrEnum):
    CRLF = "crlf"
    LF = "lf"
    CR = "cr"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class FramingOptions:
    """How strictly frames are read. The defaults are lenient, as real traffic needs."""

    max_length: int = LENIENT_MAX_LENGTH
    strict: bool = False

    @classmethod
    def standard(cls) -> FramingOptions:
        """The standard's own limits: 1,024-byte segments, four length digits, CRLF."""
        return cls(max_length=STANDARD_MAX_LENGTH, strict=True)


@dataclass(slots=True)
class Frame:
    raw: bytes
    """The frame's bytes as received, ``##`` through the terminator."""
    segment: bytes
    """The data segment the length and CRC cover."""
    crc_text: str
    """The four hex digits as sent (case kept)."""
    terminator: Terminator
    offset: int
    """Position of the frame's first byte in the stream."""


@dataclass(slots=True)
class FrameFault:
    """Bytes that did not form a frame or failed to decode, and why."""

    error: HJ212Error
    raw: bytes
    offset: int


class FrameScanner:
    """Feed it bytes as they arrive; it returns the frames and faults completed so far."""

    def __init__(self, options: FramingOptions | None = None) -> None:
        self.options = options or FramingOptions()
        self._buf = bytearray()
        self._base = 0  # stream offset of _buf[0]
        self._junk_start: int | None = None  # stream offset where the pending junk run began
        self._flushing = False

    @property
    def pending(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame | FrameFault]:
        self._buf += data
        return self._scan(final=False)

    def flush(self) -> list[Frame | FrameFault]:
        """The sender has paused: deliver a complete frame that is only waiting for its terminator.

        Some loggers send no CRLF. The scanner never guesses from read boundaries; the caller,
        who knows how long the line has been quiet, decides when to stop waiting.
        """
        self._flushing = True
        try:
            return self._scan(final=False)
        finally:
            self._flushing = False

    def close(self) -> list[Frame | FrameFault]:
        """End of stream: whatever is left is a truncated frame or junk."""
        out = self._scan(final=True)
        self._drop(len(self._buf))
        return out

    # -- scanning -----------------------------------------------------------------------------

    def _scan(self, *, final: bool) -> list[Frame | FrameFault]:
        out: list[Frame | FrameFault] = []
        buf = self._buf
        pos = 0
        while True:
            start = buf.find(b"##", pos)
            if start < 0:
                keep = 1 if buf.endswith(b"#") and not final else 0
                out.extend(self._junk_run(pos, len(buf) - keep))
                pos = len(buf) - keep
                break
            if start + 2 < len(buf) and buf[start + 2] == 0x23:  # "###…": the first # is junk
                out.extend(self._junk_run(pos, start + 1))
                pos = start + 1
                continue
            if start + 2 >= len(buf) and not final:
                # A third "#" in the next read would make this "##" junk too: wait for it before
                # ending the junk run, so that the faults do not depend on where reads end.
                out.extend(self._junk_run(pos, start))
                pos = start
                break
            out.extend(self._junk_run(pos, start))
            out.extend(self._flush_junk(start))
            end, item = self._read_frame(start, final=final)
            if item is None:
                pos = start
                break
            out.append(item)
            pos = end
        if final or (self._junk_start is not None and pos - (self._junk_start - self._base) > _MAX_JUNK):
            out.extend(self._flush_junk(pos))
        self._drop(pos)
        return out

    def _read_frame(self, start: int, *, final: bool) -> tuple[int, Frame | FrameFault | None]:
        """Read the frame at ``start``: (end, result), or (start, None) when more bytes are needed."""
        buf = self._buf
        opts = self.options
        digits_at = start + 2
        k = digits_at + 4
        if not buf[digits_at:k].isdigit():  # the common case is four digits; otherwise count them
            k = digits_at
            while k < len(buf) and k - digits_at < 4 and buf[k] in _DIGITS:
                k += 1
        n_digits = k - digits_at
        if n_digits < 4 and k == len(buf) and not final:
            return start, None
        if n_digits == 0 or (opts.strict and n_digits < 4):
            shown = bytes(buf[digits_at : k + 1])  # the digits and the byte that ended them: not what a read held
            return self._reject(
                BadLength(f"length field {shown!r} is not four decimal digits", field="length", value=shown),
                start,
                final=final,
            )
        declared = int(buf[digits_at:k])
        seg_start = k
        seg_end = seg_start + declared
        crc_end = seg_end + 4
        if declared > opts.max_length:
            return self._reject(
                TooLong(
                    f"data segment length {declared} exceeds the maximum {opts.max_length}",
                    field="length",
                    value=declared,
                ),
                start,
                final=final,
            )
        # A data segment never holds LF or "##": one inside the declared span means a wrong length.
        span_end = min(crc_end, len(buf))
        boundary = _first_boundary(buf, seg_start, span_end)
        if boundary is not None:
            end = boundary + 1 if buf[boundary] == 0x0A else boundary
            body_end = boundary - 1 if buf[boundary] == 0x0A and buf[boundary - 1] == 0x0D else boundary
            actual = max(body_end - 4 - seg_start, 0)
            return end, self._fault(
                BadLength(
                    f"declared length {declared} but the frame ends after {actual} bytes of data",
                    field="length",
                    value=declared,
                ),
                start,
                end,
            )
        if len(buf) < crc_end:
            if not final:
                return start, None
            return len(buf), self._fault(
                Truncated(
                    f"stream ended {crc_end - len(buf)} bytes short of the declared length {declared} plus CRC",
                    field="length",
                    value=declared,
                ),
                start,
                len(buf),
            )
        crc = bytes(buf[seg_end:crc_end])
        if crc.translate(None, _HEX):
            return self._reject(
                BadLength(
                    f"declared length {declared} is wrong: the 4 bytes after it are {crc!r}, not a hex CRC",
                    field="length",
                    value=declared,
                ),
                start,
                final=final,
            )
        tail = bytes(buf[crc_end : crc_end + 2])
        if tail == b"\r\n":
            terminator, end = Terminator.CRLF, crc_end + 2
        elif tail[:1] == b"\n":
            terminator, end = Terminator.LF, crc_end + 1
        elif tail == b"\r" and not final:
            return start, None
        elif tail[:1] == b"\r":
            terminator, end = Terminator.CR, crc_end + 1
        elif tail[:1] in (b"", b"#"):
            if tail == b"" and not final and not self._flushing:
                return start, None  # the CRLF may be in the next read: raw bytes must not depend on reads
            terminator, end = Terminator.NONE, crc_end
        else:
            return self._reject(
                BadLength(
                    f"declared length {declared} is wrong: the CRC is followed by {tail!r}, not a terminator",
                    field="length",
                    value=declared,
                ),
                start,
                final=final,
            )
        if opts.strict and terminator is not Terminator.CRLF:
            return end, self._fault(
                BadTerminator(
                    f"frame ends with {terminator.value.upper()} where the standard requires CRLF",
                    field="terminator",
                    value=terminator.value,
                ),
                start,
                end,
            )
        return end, Frame(
            raw=bytes(buf[start:end]),
            segment=bytes(buf[seg_start:seg_end]),
            crc_text=crc.decode("ascii"),
            terminator=terminator,
            offset=self._base + start,
        )

    def _reject(self, error: FramingError, start: int, *, final: bool) -> tuple[int, FrameFault | None]:
        """A fault for the bad frame at ``start`` reaching to where scanning can resume."""
        end = self._resync_point(start, final=final)
        if end is None:
            return start, None
        return end, self._fault(error, start, end)

    def _resync_point(self, start: int, *, final: bool) -> int | None:
        """Where scanning resumes after a bad frame at ``start``: past its LF, or at the next ``##``."""
        buf = self._buf
        limit = start + _MAX_BAD_FRAME
        boundary = _first_boundary(buf, start + 2, min(len(buf), limit))
        if boundary is not None:
            return boundary + 1 if buf[boundary] == 0x0A else boundary
        if len(buf) >= limit:
            return limit  # a fixed cut, not the end of whatever the reads have brought so far
        if final:
            return len(buf)
        return None

    # -- junk between frames ------------------------------------------------------------------

    def _junk_run(self, begin: int, end: int) -> list[Frame | FrameFault]:
        """Note bytes [begin, end) as belonging to no frame; separators alone are not junk.

        Only the run's start is recorded: the buffer keeps its bytes until the run is flushed.
        """
        if end > begin and self._junk_start is None and any(b not in _BLANKS for b in self._buf[begin:end]):
            self._junk_start = self._base + begin
        return []

    def _flush_junk(self, end: int) -> list[Frame | FrameFault]:
        """Report the pending junk run as one ``no_header`` fault ending at buffer index ``end``."""
        if self._junk_start is None:
            return []
        begin = self._junk_start - self._base
        self._junk_start = None
        run = bytes(self._buf[begin:end])
        raw = run.lstrip(b" \t\r\n")
        offset = self._base + begin + len(run) - len(raw)
        raw = raw.rstrip(b" \t\r\n")
        if not raw:
            return []
        return [FrameFault(NoHeader(f"{len(raw)} bytes outside any '##' frame", value=len(raw)), raw, offset)]

    def _fault(self, error: FramingError, start: int, end: int) -> FrameFault:
        return FrameFault(error, bytes(self._buf[start:end]), self._base + start)

    def _drop(self, upto: int) -> None:
        """Forget consumed bytes, except a pending junk run still to be reported."""
        if self._junk_start is not None:
            upto = min(upto, self._junk_start - self._base)
        if upto > 0:
            del self._buf[:upto]
            self._base += upto


def _first_boundary(buf: bytearray, begin: int, end: int) -> int | None:
    """Index of the first LF or ``##`` in buf[begin:end]."""
    lf = buf.find(b"\n", begin, end)
    hh = buf.find(b"##", begin, end if lf < 0 else lf)
    if hh >= 0:
        return hh
    return lf if lf >= 0 else None


def split_frames(data: bytes, options: FramingOptions | None = None) -> list[Frame | FrameFault]:
    """All frames and faults in a complete byte string (a file, a captured session)."""
    scanner = FrameScanner(options)
    return scanner.feed(data) + scanner.close()
