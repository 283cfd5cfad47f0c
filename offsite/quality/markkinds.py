"""The kinds a data mark may have: a table (packaged TOML, ``data/mark_kinds.toml``, or the file
``mark_kinds_file`` names) of canonical keys with the Chinese terms and codes of the 2022 marking
rules. A mark filed as 停运 or F is stored as ``stopped``; a kind the table does not hold is refused
with the kinds it does."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path


class UnknownMarkKind(ValueError):
    """A kind no entry of the table names: the message lists the accepted kinds."""


class MarkKindsError(ValueError):
    """A kinds table that cannot be used: names the file and the entry at fault."""


@dataclass(frozen=True, slots=True)
class MarkKind:
    key: str
    terms: tuple[str, ...]
    codes: tuple[str, ...]
    stop: bool
    """The mark says the plant did not run (not only that an analyser was out)."""
    tag: str
    source: str

    def label(self) -> str:
        names = (*self.terms[:2], *self.codes)
        return f"{self.key} ({'/'.join(names)})" if names else self.key


@dataclass(frozen=True, slots=True)
class MarkKinds:
    kinds: tuple[MarkKind, ...]

    def keys(self) -> tuple[str, ...]:
        return tuple(k.key for k in self.kinds)

    def stop_keys(self) -> tuple[str, ...]:
        return tuple(k.key for k in self.kinds if k.stop)

    def accepted(self) -> str:
        """The kinds as a person reads them in an error: ``stopped (停运/停产/F), …``."""
        return ", ".join(k.label() for k in self.kinds)

    def canonical(self, text: str) -> str:
        """The key ``text`` names (a key, a term or a code, spaces and case of keys and codes
        ignored); UnknownMarkKind naming the accepted kinds otherwise."""
        wanted = text.strip()
        folded = wanted.casefold()
        for kind in self.kinds:
            if folded == kind.key.casefold() or wanted in kind.terms or wanted.upper() in kind.codes:
                return kind.key
        raise UnknownMarkKind(f"unknown mark kind {text!r}; accepted: {self.accepted()}")


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
    kinds: list[MarkKind] = []
    seen: dict[str, str] = {}
    for n, entry in enumerate(entries, start=1):
        key = entry.get("key")
        if not isinstance(key, str) or not key or len(key) > 16:
            raise MarkKindsError(f"{where}: kind {n} needs a key of 1 to 16 characters (the stored column)")
        kind = MarkKind(
            key=key,
            terms=tuple(entry.get("terms", ())),
            codes=tuple(c.upper() for c in entry.get("codes", ())),
            stop=bool(entry.get("stop", False)),
            tag=str(entry.get("tag", "")),
            source=str(entry.get("source", "")),
        )
        for name in (kind.key.casefold(), *kind.terms, *kind.codes):
            if name in seen:
                raise MarkKindsError(f"{where}: {name!r} names both {seen[name]} and {key}")
            seen[name] = key
        kinds.append(kind)
    if not kinds:
        raise MarkKindsError(f"{where}: no [[kind]] entries")
    return MarkKinds(tuple(kinds))
