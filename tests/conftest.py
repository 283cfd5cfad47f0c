from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from offsite.db import make_engine
from offsite.db.schema import upgrade
from offsite.settings import get_settings
from offsite.store.series import close_connections
from tests.databases import SERVER_URL, PostgresDatabases, postgres_reachable

DATA = Path(__file__).parent / "data"

# the platform's files (keys, spools, snapshots) go to a directory of this run, never the checkout
os.environ.setdefault("OFFSITE_DATA_DIR", tempfile.mkdtemp(prefix="offsite-test-data-"))
BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(autouse=True)
def _settings_read_afresh() -> Iterator[None]:
    """A test that sets an OFFSITE_ variable (monkeypatch undoes it) must not leave the settings
    object it made cached for the tests after it."""
    yield
    get_settings.cache_clear()


def load_vectors() -> list[dict[str, Any]]:
    """The real and published packets of shared/hj212/vectors.jsonl (a copy kept in tests/data)."""
    with open(DATA / "hj212_vectors.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@pytest.fixture(scope="session")
def vectors() -> list[dict[str, Any]]:
    return load_vectors()


_POSTGRES_PROBLEM: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _POSTGRES_PROBLEM  # noqa: PLW0603
    _POSTGRES_PROBLEM = postgres_reachable()
    if _POSTGRES_PROBLEM and os.environ.get("CI") == "true":
        raise pytest.UsageError(f"CI needs PostgreSQL at {SERVER_URL}: {_POSTGRES_PROBLEM}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _POSTGRES_PROBLEM is None:
        return
    deselected = [i for i in items if "[postgresql" in i.nodeid or "postgresql" in i.name]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [i for i in items if i not in deselected]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _POSTGRES_PROBLEM is not None:
        terminalreporter.write_line(
            f"NOTICE: the PostgreSQL half of the suite was deselected: no server at {SERVER_URL} "
            f"({_POSTGRES_PROBLEM}). Point OFFSITE_TEST_DATABASE_URL at a server where the tests may "
            "create databases, e.g. postgresql://postgres@127.0.0.1:5432/postgres",
            yellow=True,
        )


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    databases = PostgresDatabases()
    yield databases
    databases.close()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database on each back end."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'offsite.db'}"
        upgrade(url)
        yield url
    else:
        databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
        with databases.fresh() as url:
            yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    close_connections()
    engine.dispose()


@pytest.fixture
def postgres_engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """For what only PostgreSQL has (partitions); such tests carry "postgresql" in their id."""
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    with databases.fresh() as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()
