"""HJ 212 time fields: China Standard Time wall-clock digits (YYYYMMDDhhmmss[zzz])."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from offsite.hj212.errors import BadTime

CST = timezone(timedelta(hours=8), "CST")


def parse_time(text: str, field: str = "DataTime") -> datetime:
    """Parse a 14-digit (or, as some loggers send, 17-digit with milliseconds) time."""
    if len(text) not in (14, 17) or not text.isdigit() or not text.isascii():
        raise BadTime(
            f"{field}={text!r} is not a time: expected 14 digits YYYYMMDDhhmmss (or 17 with milliseconds)",
            field=field,
            value=text,
        )
    try:
        moment = datetime(
            int(text[0:4]),
            int(text[4:6]),
            int(text[6:8]),
            int(text[8:10]),
            int(text[10:12]),
            int(text[12:14]),
            int(text[14:17] or 0) * 1000,
            tzinfo=CST,
        )
    except ValueError as exc:
        raise BadTime(f"{field}={text!r} is not a valid date/time: {exc}", field=field, value=text) from exc
    return moment


def format_time(moment: datetime) -> str:
    """The 14-digit CST form of an aware datetime (naive datetimes are taken as CST)."""
    return _in_cst(moment).strftime("%Y%m%d%H%M%S")


def make_qn(moment: datetime) -> str:
    """A request number: the 17-digit CST time with milliseconds."""
    local = _in_cst(moment)
    return local.strftime("%Y%m%d%H%M%S") + f"{local.microsecond // 1000:03d}"


def _in_cst(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=CST)
    return moment.astimezone(CST)
