"""The one settings object: environment variables prefixed ``OFFSITE_``, nothing scattered in code."""

from __future__ import annotations

import os
import socket
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OFFSITE_", extra="ignore")

    database_url: str = "sqlite:///offsite.db"
    """SQLAlchemy URL. ``postgresql://…`` is read with psycopg 3; SQLite runs in WAL mode."""

    secret_key: str | None = None
    """Fernet key that encrypts device access passwords at rest. Unset: ``secret_key_file``."""

    secret_key_file: Path = Path("offsite.key")
    """Where a generated key is kept (created once with mode 0600) when ``secret_key`` is unset."""

    archive_writer: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    """Name of this process's raw-packet archive chain; each writer appends to its own chain."""

    archive_checkpoint_every: int = 1000
    """Records between checkpoints of a chain's head hash."""

    realtime_retention_days: int = 30
    """How long real-time (2011) values are kept before their partitions may be exported and dropped."""

    partition_months_ahead: int = 2
    """PostgreSQL: monthly partitions created ahead of time."""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def with_database_url(url: str | None) -> Settings:
    """The settings, with a ``--database-url`` option taking precedence when given."""
    base = get_settings()
    return base if url is None else base.model_copy(update={"database_url": url})
