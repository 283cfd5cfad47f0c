"""The migrations build exactly the tables the models declare, and can be undone."""

from __future__ import annotations

from datetime import date

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

import offsite.alarms.models
import offsite.gateway.models
import offsite.notify.models
import offsite.quality.marks
import offsite.registry.models
import offsite.screening.models
import offsite.store.models  # noqa: F401 (registers the tables)
from offsite.db import Base, session_factory
from offsite.db.schema import alembic_config, compare_type, current_revision, upgrade
from offsite.registry.models import Limit, Outlet, Unit
from offsite.registry.regions import load_anhui


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


def test_0008_gives_a_water_outlets_corrected_limit_the_measured_basis(database_url: str, engine: Engine) -> None:
    """Limits imported before it with the old default (corrected) on a water outlet judged nothing."""
    config = alembic_config(database_url)
    command.downgrade(config, "0007")
    with session_factory(engine)() as session, session.begin():
        load_anhui(session)
        session.add(
            Unit(id=1, credit_code="913401000000000001", name="甲厂", industry_code="D4411", region_code="340104")
        )
        session.add(Outlet(id=1, unit_id=1, code="DA001", name="1号烟囱", medium="gas", o2_ref=6.0))
        session.add(Outlet(id=2, unit_id=1, code="DW001", name="废水总排口", medium="water"))
        session.flush()
        for outlet, factor, basis in (
            (1, "a21026", "corrected"),
            (2, "w01018", "corrected"),
            (2, "w21003", "measured"),
        ):
            session.add(
                Limit(
                    outlet_id=outlet,
                    factor=factor,
                    standard="test",
                    value=50.0,
                    basis=basis,
                    period="day",
                    valid_from=date(2026, 1, 1),
                    source="test",
                )
            )
    upgrade(database_url)
    with Session(engine) as session:
        stored = dict(session.execute(select(Limit.factor, Limit.basis)).all())
    assert stored == {"a21026": "corrected", "w01018": "measured", "w21003": "measured"}
    command.downgrade(config, "0007")  # a no-op on the data, and allowed
    assert current_revision(engine) == "0007"
    upgrade(database_url)
