"""Two database roles on PostgreSQL: the owner migrates; the application's role may append to the
archive and read it but not change, empty or drop it, and writes every other table.

Each test makes its own uniquely named roles and database and drops them afterwards, whatever
happens in between.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, delete, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner, Result

import offsite.settings
from offsite.cli import app
from offsite.db import make_engine
from offsite.db.roles import PermissionRefused
from offsite.registry.models import Region
from offsite.store.archive import ArchiveWriter, Incoming
from offsite.store.models import RawPacket, RealtimeValue
from offsite.store.partitions import existing
from offsite.store.retention import retire_realtime
from offsite.store.series import close_connections
from offsite.store.values import ValueWriter
from tests.databases import SERVER_URL

runner = CliRunner()


@dataclass(frozen=True)
class Roles:
    owner: str
    app: str
    database: str

    def url(self, role: str) -> str:
        parsed = make_url(SERVER_URL).set(drivername="postgresql", username=role, password=None, database=self.database)
        return parsed.render_as_string(hide_password=False)

    @property
    def owner_url(self) -> str:
        return self.url(self.owner)

    @property
    def app_url(self) -> str:
        return self.url(self.app)


def _admin(*statements: str) -> None:
    dsn = make_url(SERVER_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]


@pytest.fixture(params=["postgresql"])
def roles(monkeypatch: pytest.MonkeyPatch) -> Iterator[Roles]:
    """An owner and an application role (LOGIN, trust on loopback) and an empty database of the
    owner's; the services' environment points at the application's role, ``db`` commands' at the owner."""
    suffix = uuid.uuid4().hex[:8]
    made = Roles(f"offsite_t_owner_{suffix}", f"offsite_t_app_{suffix}", f"offsite_r_{suffix}")
    try:
        _admin(
            f'CREATE ROLE "{made.owner}" LOGIN',
            f'CREATE ROLE "{made.app}" LOGIN',
            f'CREATE DATABASE "{made.database}" OWNER "{made.owner}"',
        )
        # PostgreSQL before 15 lets PUBLIC create tables in schema public; a hardened server does not
        with psycopg.connect(made.owner_url, autocommit=True) as conn:
            conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        monkeypatch.setenv("OFFSITE_DATABASE_URL", made.app_url)
        monkeypatch.setenv("OFFSITE_OWNER_DATABASE_URL", made.owner_url)
        offsite.settings.get_settings.cache_clear()
        yield made
    finally:
        offsite.settings.get_settings.cache_clear()
        close_connections()
        _admin(
            f'DROP DATABASE IF EXISTS "{made.database}" WITH (FORCE)',
            f'DROP ROLE IF EXISTS "{made.app}"',
            f'DROP ROLE IF EXISTS "{made.owner}"',
        )


def _invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


@pytest.fixture
def granted(roles: Roles) -> Roles:
    """Migrated as the owner (OFFSITE_OWNER_DATABASE_URL), then the application's role granted."""
    upgraded = _invoke("db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert f"(as {roles.owner})" in upgraded.stdout
    result = _invoke("db", "grant", roles.app)
    assert result.exit_code == 0, result.output
    assert "SELECT, INSERT on 2 append-only tables: archive_checkpoint, raw_packet" in result.stdout
    return roles


@pytest.fixture
def app_engine(granted: Roles) -> Iterator[Engine]:
    engine = make_engine(granted.app_url)
    yield engine
    engine.dispose()


@pytest.fixture
def owner_engine(granted: Roles) -> Iterator[Engine]:
    engine = make_engine(granted.owner_url)
    yield engine
    engine.dispose()


def _refused(engine: Engine, statement: str) -> str:
    """The SQLSTATE the server answered ``statement`` with (it must fail)."""
    with pytest.raises(DBAPIError) as caught, engine.begin() as conn:
        conn.execute(text(statement))
    return str(getattr(caught.value.orig, "sqlstate", None))


PERMISSION_DENIED = "42501"  # not the append-only trigger's refusal (P0001): the grants themselves


def test_the_schema_belongs_to_the_owner_not_to_the_app(granted: Roles, owner_engine: Engine) -> None:
    with owner_engine.connect() as conn:
        owners = set(
            conn.execute(
                text(
                    "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class "
                    "WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p', 'S')"
                )
            ).scalars()
        )
    assert owners == {granted.owner}


def test_the_app_appends_to_the_archive_and_reads_it(app_engine: Engine) -> None:
    moment = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    archived = ArchiveWriter(app_engine, "w").append(
        [Incoming(b"##0001", "127.0.0.1:1", moment), Incoming(b"##0002", "127.0.0.1:1", moment)]
    )
    assert len(archived) == 2
    with app_engine.connect() as conn:
        assert conn.execute(select(RawPacket.data).order_by(RawPacket.id)).scalars().all() == [b"##0001", b"##0002"]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE raw_packet SET peer = 'forged'",
        "DELETE FROM raw_packet",
        "TRUNCATE raw_packet",
        "DROP TABLE raw_packet",
        "DROP TRIGGER raw_packet_append_only ON raw_packet",
        "ALTER TABLE raw_packet DISABLE TRIGGER raw_packet_append_only",
        "ALTER TABLE raw_packet ADD COLUMN note text",
        "UPDATE archive_checkpoint SET hash = hash",
        "DELETE FROM archive_checkpoint",
        "TRUNCATE archive_checkpoint",
        "DROP TABLE archive_checkpoint",
        "SELECT setval(pg_get_serial_sequence('raw_packet', 'id'), 1)",
        "UPDATE alembic_version SET version_num = '0001'",
        "CREATE TABLE own_table (i int)",
    ],
)
def test_the_app_may_not_change_empty_or_drop_the_archive(app_engine: Engine, statement: str) -> None:
    ArchiveWriter(app_engine, "w").append([Incoming(b"##0001", "127.0.0.1:1", datetime(2026, 12, 7, tzinfo=UTC))])
    assert _refused(app_engine, statement) == PERMISSION_DENIED
    with app_engine.connect() as conn:
        assert conn.execute(select(RawPacket.peer)).scalars().all() == ["127.0.0.1:1"]


def test_the_app_writes_ordinary_tables(app_engine: Engine) -> None:
    with app_engine.begin() as conn:
        conn.execute(insert(Region).values(code="340000", name="安徽省", level="province"))
        conn.execute(update(Region).where(Region.code == "340000").values(name="安徽"))
    with app_engine.begin() as conn:
        assert conn.scalar(select(Region.name)) == "安徽"
        conn.execute(delete(Region))
    # but may not empty them wholesale, nor change their shape
    assert _refused(app_engine, "TRUNCATE region") == PERMISSION_DENIED
    assert _refused(app_engine, "ALTER TABLE region ADD COLUMN note text") == PERMISSION_DENIED


def test_the_app_stores_values_in_a_month_with_no_partition_yet(app_engine: Engine, owner_engine: Engine) -> None:
    """A backfilled month: the partition is made through the owner's function, the COPY staging
    table is a temporary table of the app's own."""
    ts = datetime(2031, 5, 17, 3, 0, tzinfo=UTC)
    row = {"device_id": 1, "factor": "a01012", "ts": ts, "rtd": 1.5, "zs_rtd": None}
    row |= {"flag": "N", "eflag": None, "raw_id": None}
    with app_engine.begin() as conn:
        assert ValueWriter().realtime(conn, [row]) == 1
    with owner_engine.connect() as conn:
        assert "realtime_value_p203105" in existing(conn, "realtime_value")
        owner = conn.scalar(
            text("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'realtime_value_p203105'")
        )
        assert owner == conn.scalar(text("SELECT current_user"))
        assert conn.scalar(select(RealtimeValue.rtd)) == 1.5
    # the function makes a month's partition of a partitioned table, nothing else
    assert _refused(app_engine, "SELECT offsite_create_partition('raw_packet', '2031-01-01')") == "22023"
    result = _invoke("store", "partitions")  # as the app: OFFSITE_DATABASE_URL
    assert result.exit_code == 0, result.output


def test_grants_converge_and_check_finds_what_was_added_by_hand(granted: Roles, owner_engine: Engine) -> None:
    again = _invoke("db", "grant", granted.app)
    assert again.exit_code == 0, again.output
    assert _invoke("db", "grant", granted.app, "--check").stdout.strip() == f"{granted.app}: as granted"
    with owner_engine.begin() as conn:
        conn.execute(text("GRANT UPDATE ON raw_packet TO PUBLIC"))
        conn.execute(text(f'GRANT DELETE, TRUNCATE ON archive_checkpoint TO "{granted.app}"'))
    checked = _invoke("db", "grant", granted.app, "--check")
    assert checked.exit_code == 1
    assert f"{granted.app} may UPDATE raw_packet, which is append-only" in checked.stderr
    assert f"{granted.app} may TRUNCATE archive_checkpoint, which is append-only" in checked.stderr
    upgraded = _invoke("db", "upgrade")  # takes them back
    assert upgraded.exit_code == 0, upgraded.output
    assert "revoked UPDATE on raw_packet from PUBLIC (append-only)" in upgraded.stdout
    assert f"revoked DELETE, TRUNCATE on archive_checkpoint from {granted.app} (append-only)" in upgraded.stdout
    assert _invoke("db", "grant", granted.app, "--check").exit_code == 0


def test_tables_of_a_later_migration_are_granted_by_default_but_not_to_change_an_append_only_one(
    granted: Roles, owner_engine: Engine, app_engine: Engine
) -> None:
    with owner_engine.begin() as conn:  # what a later migration would do, as the owner
        conn.execute(text("CREATE TABLE later_table (id bigserial PRIMARY KEY, note text)"))
        conn.execute(text("CREATE TABLE later_archive (id bigserial PRIMARY KEY, note text)"))
        conn.execute(
            text(
                "CREATE TRIGGER later_archive_append_only BEFORE UPDATE OR DELETE ON later_archive "
                "FOR EACH ROW EXECUTE FUNCTION offsite_append_only()"
            )
        )
    with app_engine.begin() as conn:
        conn.execute(text("INSERT INTO later_table (note) VALUES ('a')"))
        conn.execute(text("UPDATE later_table SET note = 'b'"))
        conn.execute(text("INSERT INTO later_archive (note) VALUES ('a')"))
    assert _invoke("db", "upgrade").exit_code == 0
    assert _refused(app_engine, "UPDATE later_archive SET note = 'b'") == PERMISSION_DENIED
    assert _refused(app_engine, "DELETE FROM later_archive") == PERMISSION_DENIED
    with app_engine.begin() as conn:
        conn.execute(text("INSERT INTO later_archive (note) VALUES ('c')"))
        conn.execute(text("DELETE FROM later_table"))


def test_the_app_cannot_migrate_and_says_who_can(roles: Roles) -> None:
    result = _invoke("db", "upgrade", "--database-url", roles.app_url)
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"error: the database refused role {roles.app}: permission denied for schema public"
    )
    assert "OFFSITE_OWNER_DATABASE_URL" in result.stderr
    assert isinstance(result.exception, SystemExit)  # no traceback


def test_grant_refuses_to_run_as_the_app_or_to_a_role_that_would_not_be_bound(granted: Roles) -> None:
    result = _invoke("db", "grant", granted.app, "--database-url", granted.app_url)
    assert result.exit_code == 2
    assert f"{granted.app}, the role connected, owns none of schema public's tables" in result.stderr
    result = _invoke("db", "grant", granted.owner)
    assert result.exit_code == 2
    assert "the application needs a role of its own" in result.stderr
    result = _invoke("db", "grant", f"offsite_t_nobody_{uuid.uuid4().hex[:8]}")
    assert result.exit_code == 2
    assert "there is no database role" in result.stderr


def test_only_the_owner_retires_months(
    granted: Roles, app_engine: Engine, owner_engine: Engine, tmp_path: Path
) -> None:
    row = {"device_id": 1, "factor": "a01012", "ts": datetime(2026, 1, 5, tzinfo=UTC), "rtd": 2.0, "zs_rtd": None}
    row |= {"flag": "N", "eflag": None, "raw_id": None}
    with app_engine.begin() as conn:
        ValueWriter().realtime(conn, [row])
    with pytest.raises(PermissionRefused, match=f"{granted.app} does not own realtime_value .owner: {granted.owner}"):
        retire_realtime(app_engine, date(2026, 2, 1), tmp_path / "out")
    assert not (tmp_path / "out").exists()  # refused before any file was written
    done = retire_realtime(owner_engine, date(2026, 2, 1), tmp_path / "out")
    assert [(d.month.isoformat(), d.rows) for d in done] == [("2026-01-01", 1)]
    with owner_engine.connect() as conn:
        assert "realtime_value_p202601" not in existing(conn, "realtime_value")
