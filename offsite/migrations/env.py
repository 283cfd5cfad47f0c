"""Alembic environment: the only place that imports every package's models."""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool

import offsite.alarms.models
import offsite.gateway.models
import offsite.notify.models
import offsite.quality.marks
import offsite.registry.models
import offsite.screening.models
import offsite.store.models  # noqa: F401  (registers the tables)
from offsite.db import Base, make_engine
from offsite.db.schema import compare_type

config = context.config
target_metadata = Base.metadata


def run_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "", poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=compare_type,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
