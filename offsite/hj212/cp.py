"""The CP (command parameter) grammar: ``key=value`` items, ``,`` within one object, ``;`` between.

The decoder keeps CP as the ordered list of (key, text) pairs it read: unknown keys, vendor
suffixes and duplicate keys are all kept, never dropped. The encoder writes pairs back in the
standard's canonical grouping: consecutive items of the same object (same code before the
last ``-``) joined by ``,``, different objects by ``;``.
"""

from __future__ import annotations

from collections.abc import Iterable

from offsite.hj212.errors import BadCp, EncodeError

Pairs = tuple[tuple[str, str], ...]

_FORBIDDEN_IN_KEY = frozenset(";,=&#\r\n")
_FORBIDDEN_IN_VALUE = frozenset(";,&#\r\n")


def parse_cp(body: str) -> Pairs:
    """Split the text between ``CP=&&`` and the closing ``&&`` into (key, value) pairs."""
    pairs: list[tuple[str, str]] = []
    for group in body.split(";"):
        if not group:
            continue  # "…;;…" or the trailing ";" some loggers put before "&&"
        for item in group.split(","):
            key, eq, value = item.partition("=")
            if not eq or not key:
                raise BadCp(f"CP item {item!r} is not key=value", field="CP", value=item)
            pairs.append((key, value))
    return tuple(pairs)


def object_of(key: str) -> str:
    """The object an item belongs to: ``a21026`` for ``a21026-Rtd``; the key itself otherwise."""
    dash = key.rfind("-")
    return key[:dash] if dash > 0 else key


def encode_cp(pairs: Iterable[tuple[str, str]]) -> str:
    parts: list[str] = []
    previous: str | None = None
    for key, value in pairs:
        check_key(key)
        check_value(key, value)
        obj = object_of(key)
        if parts:
            parts.append("," if obj == previous and "-" in key else ";")
        parts.append(f"{key}={value}")
        previous = obj
    return "".join(parts)


def check_key(key: str) -> None:
    if not key or not _FORBIDDEN_IN_KEY.isdisjoint(key):
        raise EncodeError(f"CP key {key!r} is empty or holds a separator", field=key, value=key)


def check_value(key: str, value: str) -> None:
    if not _FORBIDDEN_IN_VALUE.isdisjoint(value):
        raise EncodeError(f"{key}={value!r} holds a separator (; , & # or a line break)", field=key, value=value)
