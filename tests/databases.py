"""Fresh databases for tests: SQLite files, and PostgreSQL databases copied from a migrated template."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy.engine import make_url

from offsite.db.schema import upgrade

SERVER_URL = os.environ.get("OFFSITE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
"""A PostgreSQL server where the tests may create and drop databases."""


def _admin_dsn() -> str:
    return make_url(SERVER_URL).set(drivername="postgresql").render_as_string(hide_password=False)


def postgres_reachable() -> str | None:
    """None if the server answers, else why not."""
    try:
        with psycopg.connect(_admin_dsn(), connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]


def _database_url(name: str) -> str:
    return make_url(SERVER_URL).set(drivername="postgresql", database=name).render_as_string(hide_password=False)


class PostgresDatabases:
    """One migrated template per test session; each test gets its own copy."""

    def __init__(self) -> None:
        self.template = f"offsite_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self._made = False

    def _execute(self, sql: str) -> None:
        with psycopg.connect(_admin_dsn(), autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    @contextmanager
    def fresh(self, *, migrated: bool = True) -> Iterator[str]:
        if not migrated:
            name = f"offsite_e_{uuid.uuid4().hex[:12]}"
            self._execute(f'CREATE DATABASE "{name}"')
            try:
                yield _database_url(name)
            finally:
                self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        if not self._made:
            self._execute(f'CREATE DATABASE "{self.template}"')
            upgrade(_database_url(self.template))
            self._made = True
        name = f"offsite_t_{uuid.uuid4().hex[:12]}"
        self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        try:
            yield _database_url(name)
        finally:
            self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        if self._made:
            self._execute(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
