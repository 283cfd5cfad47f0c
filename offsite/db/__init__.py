"""The engine, sessions and the declarative ``Base`` every package's tables register on.

The names are loaded on first use, so that a module of this package that needs no SQLAlchemy (the
key files: ``keyfile``) can be imported by a light command without paying for it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from offsite.db.base import Base, UtcDateTime, table_of
    from offsite.db.engine import dialect_of, make_engine, normalise_url, session_factory

__all__ = ["Base", "UtcDateTime", "dialect_of", "make_engine", "normalise_url", "session_factory", "table_of"]
_HOME = {
    "Base": "offsite.db.base",
    "UtcDateTime": "offsite.db.base",
    "table_of": "offsite.db.base",
    "dialect_of": "offsite.db.engine",
    "make_engine": "offsite.db.engine",
    "normalise_url": "offsite.db.engine",
    "session_factory": "offsite.db.engine",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_HOME[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value
