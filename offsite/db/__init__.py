"""The engine, sessions and the declarative ``Base`` every package's tables register on."""

from offsite.db.base import Base, UtcDateTime, table_of
from offsite.db.engine import dialect_of, make_engine, normalise_url, session_factory

__all__ = ["Base", "UtcDateTime", "dialect_of", "make_engine", "normalise_url", "session_factory", "table_of"]
