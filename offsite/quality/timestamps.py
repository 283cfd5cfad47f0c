"""Times read from input files. Each must say its offset from UTC: a time without one is refused,
never guessed, since HJ 212 times are China Standard Time and one read as UTC would move every
reading eight hours (and the China day it falls in)."""

from __future__ import annotations

import polars as pl

# ``Z``, ``+08``, ``+0800`` or ``+08:00`` after the time of day (hh:mm, seconds and fractions
# optional): a date alone ends in ``-01``, which is no offset
OFFSET = r"\d:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[Zz]|[+-]\d{2}(?::?\d{2})?)\s*$"
# a date first, year first (2026-12-01, 2026/12/01, HJ 212's 20261201…) or last (01/12/2026): text
# that starts so is a time, not garbage. These are every order the parser below may infer, so a
# time it reads without an offset is always one ``offset_missing`` has refused
DATE = r"^\s*(?:\d{4}[-/.]?\d{1,2}[-/.]?\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4})"
EXAMPLE = "2026-12-01T08:00:00+08:00"


def offset_missing(text: pl.Expr) -> pl.Expr:
    """Whether the text is a time (it starts with a date) without an offset."""
    return text.str.contains(DATE) & ~text.str.contains(OFFSET)


def parse_utc(text: pl.Expr) -> pl.Expr:
    """The UTC time, null where the text is empty or not a time. It would read a time without an
    offset as UTC: refuse the rows ``offset_missing`` finds first (strip padded text first)."""
    return text.str.to_datetime(time_zone="UTC", strict=False)


def no_offset(column: str, value: object) -> str:
    """Why a time without an offset is refused, and what to write instead."""
    return (
        f"{column} {value!r} has no UTC offset: write it as China time with +08:00, e.g. {EXAMPLE} "
        "(HJ 212 times are China Standard Time; a time without an offset is never guessed)"
    )
