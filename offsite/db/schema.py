"""Bringing a database to the newest schema (``offsite db upgrade``).

Alembic finds the migrations by script location (``offsite:migrations``) and loads their
environment itself, so no layer below the top imports the package that sees every model.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from offsite.db.engine import make_engine, normalise_url

SCRIPT_LOCATION = "offsite:migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgraded_engine(url: str) -> Engine:
    """An engine on a database brought to the newest schema."""
    upgrade(url)
    return make_engine(url)
