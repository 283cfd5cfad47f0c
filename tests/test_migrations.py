"""The migrations build exactly the tables the models declare, and can be undone."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

import offsite.alarms.models
import offsite.gateway.models
import offsite.notify.models
import offsite.quality.marks
import offsite.registry.models
import offsite.screening.models
import offsite.store.models  # noqa: F401 (registers the tables)
from offsite.db import Base
from offsite.db.schema import alembic_config, compare_type, current_revision, upgrade


def test_no_drift_between_models_and_migrations(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": compare_type}), Base.metadata)
    assert diff == [], diff


def test_downgrade_and_upgrade_again(database_url: str, engine: Engine) -> None:
    command.downgrade(alembic_config(database_url), "base")
    assert current_revision(engine) is None
    upgrade(database_url)
    assert current_revision(engine) == ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()


def test_each_step_down_and_up(database_url: str, engine: Engine) -> None:
    """Every migration undoes cleanly one step at a time, not only all at once."""
    config = alembic_config(database_url)
    heads = [s.revision for s in ScriptDirectory.from_config(config).walk_revisions()]
    assert len(heads) >= 2
    for revision in heads[1:]:
        command.downgrade(config, revision)
        assert current_revision(engine) == revision
    upgrade(database_url)
    assert current_revision(engine) == heads[0]
