"""The kinds a data mark may have: a table (packaged TOML, ``data/mark_kinds.toml``, or the file
``mark_kinds_file`` names) of canonical keys with the Chinese terms and codes of the 2022 marking
rules. A mark filed as 停运 or F is stored as ``stopped``; a kind the table does not hold is refused
with the kinds it does.

Each kind has a category: ``device`` (设备标记: maintenance, calibration, an analyser's fault — that
analyser's data are not valid) or ``condition`` (工况标记: the plant stopped, started, shut down or
had a fault or accident — it did not run normally). Only condition marks excuse what the plant did,
such as a cold furnace.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

CATEGORIES = ("device", "condition")
KEY_LENGTH = 16
"""The stored column's width (data_mark.kind)."""


class UnknownMarkKind(ValueError):
    """A kind no entry of the table names: the message lists the accepted kinds."""


class MarkKindsError(ValueError):
    """A kinds table that cannot be used: names the file, the entry and the field at fault."""


@dataclass(frozen=True, slots=True)
class MarkKind:
    key: str
    terms: tuple[str, ...]
    codes: tuple[str, ...]
    stop: bool
    """The mark says the plant did not run (not only that an analyser was out)."""
    category: str
    """``device`` (设备标记) or ``condition`` (工况标记)."""
    tag: str
    source: str

    def label(self) -> str:
        names = (*self.terms[:2], *self.codes)
        return f"{self.key} ({'/'.join(names)})" if names else self.key

    def term(self) -> str:
        """What a Chinese text calls it: its first term, else its key."""
        return self.terms[0] if self.terms else self.key


@dataclass(frozen=True, slots=True)
class MarkKinds:
    kinds: tuple[MarkKind, ...]

    def keys(self) -> tuple[str, ...]:
        return tuple(k.key for k in self.kinds)

    def stop_keys(self) -> tuple[str, ...]:
        return tuple(k.key for k in self.kinds if k.stop)

    def device_keys(self) -> tuple[str, ...]:
        """Kinds that say an analyser was out (设备标记: maintenance, calibration, its fault)."""
        return tuple(k.key for k in self.kinds if k.category == "device")

    def condition_keys(self) -> tuple[str, ...]:
        """Kinds that say the plant did not run normally (工况标记)."""
        return tuple(k.key for k in self.kinds if k.category == "condition")

    def accepted(self) -> str:
        """The kinds as a person reads them in an error: ``stopped (停运/停产/F), …``."""
        return ", ".join(k.label() for k in self.kinds)

    def find(self, text: str) -> MarkKind | None:
        """The kind ``text`` names (a key, a term or a code; spaces and case ignored)."""
        folded = text.strip().casefold()
        for kind in self.kinds:
            if folded == kind.key.casefold() or folded in (t.casefold() for t in (*kind.terms, *kind.codes)):
                return kind
        return None

    def canonical(self, text: str) -> str:
        """The key ``text`` names; UnknownMarkKind naming the accepted kinds otherwise."""
        kind = self.find(text)
        if kind is None:
            raise UnknownMarkKind(f"unknown mark kind {text!r}; accepted: {self.accepted()}")
        return kind.key

    def term(self, key: str) -> str:
        """The Chinese term of a stored key (the key itself where the table no longer holds it)."""
        kind = self.find(key)
        return kind.term() if kind is not None else key


def mark_kinds(path: Path | None = None) -> MarkKinds:
    """The packaged table, or the one at ``path`` (a settings override) instead."""
    if path is None:
        return _packaged()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MarkKindsError(f"{path}: cannot read the mark kinds table ({exc})") from exc
    return _parse(text, str(path))


@lru_cache(maxsize=1)
def _packaged() -> MarkKinds:
    text = (files("offsite.quality") / "data" / "mark_kinds.toml").read_text(encoding="utf-8")
    return _parse(text, "offsite/quality/data/mark_kinds.toml")


def _parse(text: str, where: str) -> MarkKinds:
    try:
        entries = tomllib.loads(text).get("kind", [])
    except tomllib.TOMLDecodeError as exc:
        raise MarkKindsError(f"{where}: not TOML ({exc})") from exc
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise MarkKindsError(f"{where}: 'kind' must be a list of [[kind]] tables, not {type(entries).__name__}")
    kinds = [_kind(entry, f"{where}: kind {n}") for n, entry in enumerate(entries, start=1)]
    if not kinds:
        raise MarkKindsError(f"{where}: no [[kind]] entries")
    seen: dict[str, str] = {}
    for kind in kinds:
        # names are matched case-folded, so they must be told apart case-folded too (key f vs code F)
        for name in {n.casefold() for n in (kind.key, *kind.terms, *kind.codes)}:
            if name in seen:
                raise MarkKindsError(f"{where}: {name!r} names both {seen[name]} and {kind.key}")
            seen[name] = kind.key
    return MarkKinds(tuple(kinds))


def _kind(entry: dict[str, Any], at: str) -> MarkKind:
    key = entry.get("key")
    if not isinstance(key, str) or not key.strip() or len(key) > KEY_LENGTH:
        raise MarkKindsError(f"{at}: key {key!r} must be a text of 1 to {KEY_LENGTH} characters (the stored column)")
    at = f"{at} ({key})"
    stop = entry.get("stop", False)
    if not isinstance(stop, bool):
        raise MarkKindsError(f"{at}: stop {stop!r} must be true or false")
    # a table written before categories existed: a stop kind is about the plant, any other is taken
    # as a device mark, which excuses nothing the plant did
    category = entry.get("category", "condition" if stop else "device")
    if category not in CATEGORIES:
        raise MarkKindsError(f"{at}: category {category!r} must be one of {', '.join(CATEGORIES)}")
    if stop and category != "condition":
        raise MarkKindsError(f"{at}: a stop kind says the plant did not run: its category must be condition")
    return MarkKind(
        key=key.strip(),
        terms=_texts(entry, "terms", at),
        codes=tuple(c.upper() for c in _texts(entry, "codes", at)),
        stop=stop,
        category=category,
        tag=_text(entry, "tag", at),
        source=_text(entry, "source", at),
    )


def _texts(entry: dict[str, Any], field: str, at: str) -> tuple[str, ...]:
    value = entry.get(field, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise MarkKindsError(f'{at}: {field} {value!r} must be a list of non-empty texts, e.g. ["停运"]')
    return tuple(v.strip() for v in value)


def _text(entry: dict[str, Any], field: str, at: str) -> str:
    value = entry.get(field, "")
    if not isinstance(value, str):
        raise MarkKindsError(f"{at}: {field} {value!r} must be a text")
    return value
