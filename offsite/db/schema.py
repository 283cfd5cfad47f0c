"""The schema's revision: brought up to date by ``offsite db upgrade`` alone, checked by every
other command.

Alembic finds the migrations by script location (``offsite:migrations``) and loads their
environment itself, so no layer below the top imports the package that sees every model.
Only ``offsite db upgrade`` (and the demo, which prepares its own database) migrates: the other
commands may run as a database role that cannot change the schema, and a mistyped database URL
must be refused, not answered from a new empty database.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, String
from sqlalchemy.engine import make_url

from offsite.db.engine import make_engine, normalise_url

SCRIPT_LOCATION = "offsite:migrations"
SQLITE_HEADER = b"SQLite format 3\x00"
"""The first 16 bytes of every SQLite database file (sqlite.org/fileformat.html, 1.3)."""


class SchemaError(RuntimeError):
    """The database has no schema, or one older or newer than this version of Offsite."""


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Create or migrate the schema; ``SchemaError`` for a path that is a directory or another
    kind of file (a missing file is created)."""
    _refuse_unusable_sqlite_file(url, _shown(url), missing_ok=True)
    command.upgrade(alembic_config(url), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@lru_cache(maxsize=1)
def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def upgraded_engine(url: str) -> Engine:
    """An engine on a database brought to the newest schema (``offsite db upgrade`` and the demo)."""
    upgrade(url)
    return make_engine(url)


def ready_engine(url: str, **kwargs: Any) -> Engine:
    """An engine on a database whose schema is the newest; else ``SchemaError`` naming what to run."""
    shown = _shown(url)
    _refuse_unusable_sqlite_file(url, shown)
    engine = make_engine(url, **kwargs)
    found = current_revision(engine)
    wanted = head_revision()
    if found != wanted:
        engine.dispose()
        state = "has no Offsite schema" if found is None else f"is at schema revision {found}, not {wanted}"
        raise SchemaError(f"the database {shown} {state}: run `offsite db upgrade` (with the same database URL)")
    return engine


def compare_type(ctx: Any, _inspected: Any, _declared: Any, inspected_type: Any, declared_type: Any) -> bool | None:
    """Alembic's type comparison, except a string's length on SQLite: SQLite enforces none, so a
    widened column is not migrated there (that would copy the whole archive)."""
    if ctx.dialect.name == "sqlite" and isinstance(inspected_type, String) and isinstance(declared_type, String):
        return False
    return None


def _shown(url: str) -> str:
    return make_url(normalise_url(url)).render_as_string(hide_password=True)


def _refuse_unusable_sqlite_file(url: str, shown: str, *, missing_ok: bool = False) -> None:
    # connecting would create an empty file, and a typo in the path would go unnoticed
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    if parsed.query.get("mode") == "memory" or str(parsed.database).startswith("file:"):
        return
    path = Path(parsed.database)
    if not path.exists() and missing_ok:
        return
    if not path.exists():
        raise SchemaError(
            f"the database {shown} does not exist: check the path, or create it with `offsite db upgrade`"
        )
    # SQLite says only "unable to open database file" or "file is not a database", after a traceback
    if path.is_dir():
        raise SchemaError(f"the database {shown} is a directory, not a database file: give the path of the file")
    try:
        with path.open("rb") as file:
            header = file.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise SchemaError(f"the database {shown} cannot be read: {exc.strerror or exc}") from exc
    # an empty file is a database SQLite has not written yet (the schema check then names it)
    if header and header != SQLITE_HEADER:
        raise SchemaError(
            f"the database {shown} is a file that is not an SQLite database: check the path "
            "(an Offsite database is made by `offsite db upgrade`)"
        )
