"""The migrations build exactly the tables the models declare, and can be undone."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

import offsite.gateway.models
import offsite.registry.models
import offsite.store.models  # noqa: F401 (registers the tables)
from offsite.db import Base
from offsite.db.schema import alembic_config, current_revision, upgrade


def test_no_drift_between_models_and_migrations(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], diff


def test_downgrade_and_upgrade_again(database_url: str, engine: Engine) -> None:
    command.downgrade(alembic_config(database_url), "base")
    assert current_revision(engine) is None
    upgrade(database_url)
    assert current_revision(engine) == "0001"
