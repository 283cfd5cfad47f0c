"""Database roles on PostgreSQL, by purpose: the owner migrates; only the gateway's role may append
to the archive; a worker's (or web's) role may read it but not append to it, and writes every
other table; no role may change, empty or drop the archive.

Each test makes its own uniquely named roles and database and drops them afterwards, whatever
happens in between.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, delete, func, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner, Result

import offsite.settings
from offsite.cli import app
from offsite.db import make_engine
from offsite.db.roles import PermissionRefused
from offsite.gateway.models import DeviceStatus, ProjectionFailure
from offsite.notify.models import OutboxMessage
from offsite.registry.models import Region
from offsite.sim.device import VirtualDevice
from offsite.store.archive import ArchiveWriter, Incoming
from offsite.store.models import ArchiveCheckpoint, IntervalValue, PendingHour, RawPacket, RealtimeValue
from offsite.store.partitions import existing
from offsite.store.retention import retire_realtime
from offsite.store.series import close_connections
from offsite.store.values import ValueWriter
from tests.databases import SERVER_URL
from tests.gateway.helpers import DEVICES, minute_upload, register, run, running, settings_for, until

runner = CliRunner()

PERMISSION_DENIED = "42501"  # not the append-only trigger's refusal (P0001): the grants themselves
MOMENT = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Roles:
    owner: str
    gateway: str
    worker: str
    database: str

    def url(self, role: str) -> str:
        parsed = make_url(SERVER_URL).set(drivername="postgresql", username=role, password=None, database=self.database)
        return parsed.render_as_string(hide_password=False)

    @property
    def owner_url(self) -> str:
        return self.url(self.owner)

    @property
    def gateway_url(self) -> str:
        return self.url(self.gateway)

    @property
    def worker_url(self) -> str:
        return self.url(self.worker)


def _admin(*statements: str) -> None:
    dsn = make_url(SERVER_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]


@pytest.fixture(params=["postgresql"])
def roles(monkeypatch: pytest.MonkeyPatch) -> Iterator[Roles]:
    """An owner, a gateway's and a worker's role (LOGIN, trust on loopback) and an empty database
    of the owner's; the commands' environment points at the worker's role, ``db`` commands' at the owner."""
    suffix = uuid.uuid4().hex[:8]
    made = Roles(f"offsite_t_owner_{suffix}", f"offsite_t_gw_{suffix}", f"offsite_t_wk_{suffix}", f"offsite_r_{suffix}")
    try:
        _admin(
            f'CREATE ROLE "{made.owner}" LOGIN',
            f'CREATE ROLE "{made.gateway}" LOGIN',
            f'CREATE ROLE "{made.worker}" LOGIN',
            f'CREATE DATABASE "{made.database}" OWNER "{made.owner}"',
        )
        # PostgreSQL before 15 lets PUBLIC create tables in schema public; a hardened server does not
        with psycopg.connect(made.owner_url, autocommit=True) as conn:
            conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        monkeypatch.setenv("OFFSITE_DATABASE_URL", made.worker_url)
        monkeypatch.setenv("OFFSITE_OWNER_DATABASE_URL", made.owner_url)
        offsite.settings.get_settings.cache_clear()
        yield made
    finally:
        offsite.settings.get_settings.cache_clear()
        close_connections()
        _admin(
            f'DROP DATABASE IF EXISTS "{made.database}" WITH (FORCE)',
            f'DROP ROLE IF EXISTS "{made.gateway}"',
            f'DROP ROLE IF EXISTS "{made.worker}"',
            f'DROP ROLE IF EXISTS "{made.owner}"',
        )


def _invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


@pytest.fixture
def granted(roles: Roles) -> Roles:
    """Migrated as the owner (OFFSITE_OWNER_DATABASE_URL), then the gateway's role granted for the
    gateway and the worker's for the worker (the default)."""
    upgraded = _invoke("db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert f"(as {roles.owner})" in upgraded.stdout
    assert "may append to the archive, besides the owner: no role\n" in upgraded.stdout
    result = _invoke("db", "grant", roles.gateway, "--for", "gateway")
    assert result.exit_code == 0, result.output
    assert f"granted to {roles.gateway} for the gateway" in result.stdout
    assert "  SELECT, INSERT on 2 append-only tables: archive_checkpoint, raw_packet\n" in result.stdout
    assert "raw_packet_id_seq" in next(line for line in result.stdout.splitlines() if line.startswith("  USAGE on"))
    result = _invoke("db", "grant", roles.worker)
    assert result.exit_code == 0, result.output
    assert f"granted to {roles.worker} for the worker" in result.stdout
    assert "  SELECT on 2 append-only tables: archive_checkpoint, raw_packet (no INSERT" in result.stdout
    assert "nothing on the archive's sequences (raw_packet_id_seq): no nextval" in result.stdout
    return roles


@pytest.fixture
def gateway_engine(granted: Roles) -> Iterator[Engine]:
    engine = make_engine(granted.gateway_url)
    yield engine
    engine.dispose()


@pytest.fixture
def worker_engine(granted: Roles) -> Iterator[Engine]:
    engine = make_engine(granted.worker_url)
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


def _append(engine: Engine, *data: bytes) -> None:
    archived = ArchiveWriter(engine, "w").append([Incoming(d, "127.0.0.1:1", MOMENT) for d in data])
    assert len(archived) == len(data)


FORGERIES = [
    "INSERT INTO raw_packet (writer, seq, received_at, peer, outcome, data, prev_hash, hash) "
    "VALUES ('w', 2, now(), 'forged', 'ok', '\\x00', '\\x00', '\\x00')",
    "INSERT INTO archive_checkpoint (writer, seq, hash, created_at) VALUES ('w', 2, '\\x00', now())",
    "SELECT nextval(pg_get_serial_sequence('raw_packet', 'id'))",
    "SELECT nextval('raw_packet_id_seq')",
    "COPY raw_packet (writer, seq, received_at, peer, outcome, data, prev_hash, hash) FROM STDIN",
]


def test_the_schema_belongs_to_the_owner_not_to_the_processes(granted: Roles, owner_engine: Engine) -> None:
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


def test_the_gateway_appends_to_the_archive_and_reads_it(gateway_engine: Engine) -> None:
    _append(gateway_engine, b"##0001", b"##0002")
    with gateway_engine.connect() as conn:
        assert conn.execute(select(RawPacket.data).order_by(RawPacket.id)).scalars().all() == [b"##0001", b"##0002"]


@pytest.mark.parametrize("statement", FORGERIES)
def test_a_worker_may_not_append_to_the_archive_nor_take_its_ids(
    gateway_engine: Engine, worker_engine: Engine, statement: str
) -> None:
    _append(gateway_engine, b"##0001")
    assert _refused(worker_engine, statement) == PERMISSION_DENIED
    with worker_engine.connect() as conn:  # but reads it
        assert conn.execute(select(RawPacket.writer, RawPacket.seq, RawPacket.peer)).all() == [("w", 1, "127.0.0.1:1")]
        assert conn.scalar(select(func.count()).select_from(ArchiveCheckpoint)) == 0
    with pytest.raises(DBAPIError) as caught:
        ArchiveWriter(worker_engine, "w").append([Incoming(b"##0002", "127.0.0.1:1", MOMENT)])
    assert getattr(caught.value.orig, "sqlstate", None) == PERMISSION_DENIED


def test_a_worker_writes_every_other_table(worker_engine: Engine) -> None:
    with worker_engine.begin() as conn:
        conn.execute(insert(Region).values(code="340000", name="安徽省", level="province"))
        conn.execute(update(Region).where(Region.code == "340000").values(name="安徽"))
        conn.execute(
            insert(OutboxMessage).values(
                event_key="alarm:1:red",
                channel="email",
                address="duty@example.org",
                subject="s",
                body="b",
                state="pending",
                attempts=0,
                created_at=MOMENT,
                next_attempt_at=MOMENT,
            )
        )
        conn.execute(update(OutboxMessage).values(attempts=1))
        conn.execute(insert(PendingHour).values(device_id=1, hour=MOMENT, noted_at=MOMENT))
    with worker_engine.begin() as conn:
        assert conn.scalar(select(Region.name)) == "安徽"
        assert conn.scalar(select(OutboxMessage.attempts)) == 1
        conn.execute(delete(Region))
        conn.execute(delete(PendingHour))  # the aggregation takes the hours the gateway noted
    # but may not empty them wholesale, nor change their shape
    assert _refused(worker_engine, "TRUNCATE region") == PERMISSION_DENIED
    assert _refused(worker_engine, "ALTER TABLE region ADD COLUMN note text") == PERMISSION_DENIED


def test_no_role_may_change_empty_or_drop_the_archive(gateway_engine: Engine, worker_engine: Engine) -> None:
    _append(gateway_engine, b"##0001")
    statements = [
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
    ]
    for engine in (gateway_engine, worker_engine):
        for statement in statements:
            assert _refused(engine, statement) == PERMISSION_DENIED, (engine.url.username, statement)
    with worker_engine.connect() as conn:
        assert conn.execute(select(RawPacket.peer)).scalars().all() == ["127.0.0.1:1"]


def test_the_gateway_writes_only_what_the_gateway_writes(gateway_engine: Engine) -> None:
    for statement in [
        "INSERT INTO region (code, name, level) VALUES ('340000', 'x', 'province')",
        "UPDATE device SET active = false",
        "DELETE FROM interval_value",
        "DELETE FROM device_status",
        "UPDATE outbox_message SET attempts = 0",
        "SELECT nextval('alarm_id_seq')",
    ]:
        assert _refused(gateway_engine, statement) == PERMISSION_DENIED, statement
    with gateway_engine.connect() as conn:  # it reads what it needs (the registry, first of all)
        assert conn.scalar(text("SELECT count(*) FROM device")) == 0


def test_a_gateway_runs_as_its_role_archives_and_projects(
    granted: Roles, gateway_engine: Engine, worker_engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A real gateway on loopback, connected as the gateway's role: the upload is archived before
    the ack and its values projected; the registry was written by the worker's role."""
    ids = register(worker_engine)
    mn, pw = next(iter(DEVICES.items()))
    caplog.set_level(logging.WARNING)

    def projected() -> int:
        with worker_engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(IntervalValue)) or 0)

    async def scenario() -> None:
        async with running(settings_for(granted.gateway_url, tmp_path), gateway_engine) as (gateway, port):
            device = VirtualDevice(mn, pw, ack_timeout=5)
            await device.connect("127.0.0.1", port)
            packet = minute_upload(mn, pw, device.next_qn())
            reply = await device.send(packet)
            assert reply is not None
            assert reply.flag == 4
            await until(lambda: projected() == 2)
            await until(lambda: gateway.presence.status(ids[mn]) == "online")
            await device.close()

    run(scenario)
    with worker_engine.connect() as conn:
        raw = conn.execute(select(RawPacket.id, RawPacket.outcome)).one()
        assert raw.outcome == "ok"
        values = conn.execute(select(IntervalValue.factor, IntervalValue.avg, IntervalValue.raw_id)).all()
        assert sorted(values) == [("a19001", 9.1, raw.id), ("a21026", 35.5, raw.id)]
        assert conn.scalar(select(func.count()).select_from(PendingHour)) == 1
        assert conn.scalar(select(DeviceStatus.status)) == "online"  # flushed at stop
        assert conn.scalar(select(func.count()).select_from(ProjectionFailure)) == 0
        assert "interval_value_p202611" in existing(conn, "interval_value")  # through the owner's function
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage() or "permission" in r.getMessage()]
    assert refused == []


def test_granting_a_gateway_role_as_a_worker_takes_the_archive_back(granted: Roles, gateway_engine: Engine) -> None:
    _append(gateway_engine, b"##0001")
    result = _invoke("db", "grant", granted.gateway, "--for", "worker")
    assert result.exit_code == 0, result.output
    for statement in FORGERIES:
        assert _refused(gateway_engine, statement) == PERMISSION_DENIED, statement
    with gateway_engine.begin() as conn:  # and now writes what a worker writes
        conn.execute(insert(Region).values(code="340000", name="安徽省", level="province"))
    checked = _invoke("db", "grant", granted.gateway, "--check", "--for", "worker")
    assert (checked.exit_code, checked.stdout.strip()) == (0, f"{granted.gateway}: as granted for the worker")
    checked = _invoke("db", "grant", granted.gateway, "--check", "--for", "gateway")
    assert checked.exit_code == 1
    assert f"{granted.gateway} lacks INSERT on 2 tables (archive_checkpoint, raw_packet)" in checked.stderr
    assert f"{granted.gateway} may INSERT, UPDATE, DELETE on " in checked.stderr  # region and the others
    assert "beyond what the gateway needs" in checked.stderr
    # and back: the gateway's grants again, and only those
    assert _invoke("db", "grant", granted.gateway, "--for", "gateway").exit_code == 0
    _append(gateway_engine, b"##0002")
    assert _refused(gateway_engine, "DELETE FROM region") == PERMISSION_DENIED
    assert _invoke("db", "grant", granted.gateway, "--check", "--for", "gateway").exit_code == 0


def test_check_names_what_a_role_may_do_beyond_its_purpose(granted: Roles, owner_engine: Engine) -> None:
    again = _invoke("db", "grant", granted.worker)
    assert again.exit_code == 0, again.output
    checked = _invoke("db", "grant", granted.worker, "--check")
    assert (checked.exit_code, checked.stdout.strip()) == (0, f"{granted.worker}: as granted for the worker")
    checked = _invoke("db", "grant", granted.worker, "--check", "--for", "gateway")
    assert checked.exit_code == 1
    assert f"{granted.worker} lacks INSERT on 2 tables (archive_checkpoint, raw_packet)" in checked.stderr
    with owner_engine.begin() as conn:
        conn.execute(text("GRANT UPDATE ON raw_packet TO PUBLIC"))
        conn.execute(text(f'GRANT INSERT ON raw_packet TO "{granted.worker}"'))
        conn.execute(text(f'GRANT USAGE ON SEQUENCE raw_packet_id_seq TO "{granted.worker}"'))
        conn.execute(text(f'GRANT DELETE, TRUNCATE ON archive_checkpoint TO "{granted.gateway}"'))
        conn.execute(text(f'GRANT TRUNCATE ON region TO "{granted.worker}"'))
    checked = _invoke("db", "grant", granted.worker, "--check")
    assert checked.exit_code == 1
    w = granted.worker
    assert f"{w} may UPDATE raw_packet, which is append-only" in checked.stderr  # through PUBLIC
    assert f"{w} may INSERT into raw_packet: only the gateway's role may append to the archive" in checked.stderr
    assert f"{w} may call nextval on raw_packet_id_seq (the ids of raw_packet)" in checked.stderr
    assert f"{w} may TRUNCATE on region: beyond what the worker needs" in checked.stderr
    checked = _invoke("db", "grant", granted.gateway, "--check", "--for", "gateway")
    assert checked.exit_code == 1
    assert f"{granted.gateway} may TRUNCATE archive_checkpoint, which is append-only" in checked.stderr
    upgraded = _invoke("db", "upgrade")  # takes the archive's back
    assert upgraded.exit_code == 0, upgraded.output
    assert "revoked UPDATE on raw_packet from PUBLIC (append-only)" in upgraded.stdout
    assert f"revoked INSERT on raw_packet from {w} (append-only)" in upgraded.stdout
    assert f"revoked USAGE on raw_packet_id_seq from {w} (append-only)" in upgraded.stdout
    assert f"revoked DELETE, TRUNCATE on archive_checkpoint from {granted.gateway} (append-only)" in upgraded.stdout
    assert f"may append to the archive, besides the owner: {granted.gateway}\n" in upgraded.stdout
    assert _invoke("db", "grant", granted.gateway, "--check", "--for", "gateway").exit_code == 0
    checked = _invoke("db", "grant", w, "--check")  # what is not the archive's, grant takes back
    assert checked.exit_code == 1
    assert checked.stderr.count("warning:") == 1
    assert _invoke("db", "grant", w).exit_code == 0
    assert _invoke("db", "grant", w, "--check").exit_code == 0


def test_tables_of_a_later_migration_are_granted_by_default_but_only_the_gateway_appends_to_an_archive_one(
    granted: Roles, owner_engine: Engine, gateway_engine: Engine, worker_engine: Engine
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
        conn.execute(
            text(
                "CREATE TRIGGER later_archive_no_truncate BEFORE TRUNCATE ON later_archive "
                "FOR EACH STATEMENT EXECUTE FUNCTION offsite_append_only()"
            )
        )
    with worker_engine.begin() as conn:
        conn.execute(text("INSERT INTO later_table (note) VALUES ('a')"))
        conn.execute(text("UPDATE later_table SET note = 'b'"))
        conn.execute(text("INSERT INTO later_archive (note) VALUES ('a')"))  # until db upgrade
    with gateway_engine.connect() as conn:  # the gateway reads new tables, writes none until granted
        assert conn.scalar(text("SELECT note FROM later_table")) == "b"
    assert _refused(gateway_engine, "INSERT INTO later_table (note) VALUES ('c')") == PERMISSION_DENIED
    upgraded = _invoke("db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert f"revoked INSERT, UPDATE, DELETE on later_archive from {granted.worker} (append-only)" in upgraded.stdout
    assert f"revoked USAGE, SELECT on later_archive_id_seq from {granted.worker} (append-only)" in upgraded.stdout
    for statement in ("INSERT INTO later_archive (note) VALUES ('b')", "UPDATE later_archive SET note = 'b'"):
        assert _refused(worker_engine, statement) == PERMISSION_DENIED
    assert _refused(gateway_engine, "INSERT INTO later_archive (note) VALUES ('b')") == PERMISSION_DENIED
    checked = _invoke("db", "grant", granted.gateway, "--check", "--for", "gateway")
    assert checked.exit_code == 1
    assert f"{granted.gateway} lacks INSERT on later_archive" in checked.stderr
    granted_again = _invoke("db", "grant", granted.gateway, "--for", "gateway")
    assert granted_again.exit_code == 0, granted_again.output
    assert "SELECT, INSERT on 3 append-only tables: archive_checkpoint, later_archive, raw_packet" in (
        granted_again.stdout
    )
    with gateway_engine.begin() as conn:
        conn.execute(text("INSERT INTO later_archive (note) VALUES ('c')"))
    assert _refused(gateway_engine, "DELETE FROM later_archive") == PERMISSION_DENIED
    with worker_engine.begin() as conn:
        conn.execute(text("DELETE FROM later_table"))
        assert conn.scalar(text("SELECT count(*) FROM later_archive")) == 2


def test_values_go_to_a_month_with_no_partition_yet(
    granted: Roles, gateway_engine: Engine, worker_engine: Engine, owner_engine: Engine
) -> None:
    """A backfilled month: the partition is made through the owner's function, the COPY staging
    table is a temporary table of the process's own."""
    ts = datetime(2031, 5, 17, 3, 0, tzinfo=UTC)
    row = {"device_id": 1, "factor": "a01012", "ts": ts, "rtd": 1.5, "zs_rtd": None}
    row |= {"flag": "N", "eflag": None, "raw_id": None}
    with gateway_engine.begin() as conn:
        assert ValueWriter().realtime(conn, [row]) == 1
    computed = {"device_id": 1, "period": 2, "factor": "a01012", "ts": datetime(2031, 7, 1, tzinfo=UTC)}
    computed |= {"value": 1.0, "corrected": None, "standard": None, "load": None, "bound": None}
    computed |= {"bound_corrected": None, "valid": True, "n_valid": 45}
    with worker_engine.begin() as conn:
        assert ValueWriter().computed(conn, [computed]) == 1
    with owner_engine.connect() as conn:
        assert "realtime_value_p203105" in existing(conn, "realtime_value")
        assert "computed_value_p203107" in existing(conn, "computed_value")
        owner = conn.scalar(
            text("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'realtime_value_p203105'")
        )
        assert owner == conn.scalar(text("SELECT current_user"))
        assert conn.scalar(select(RealtimeValue.rtd)) == 1.5
    # the function makes a month's partition of a partitioned table, nothing else
    assert _refused(worker_engine, "SELECT offsite_create_partition('raw_packet', '2031-01-01')") == "22023"
    result = _invoke("store", "partitions")  # as the worker: OFFSITE_DATABASE_URL
    assert result.exit_code == 0, result.output
    for role, purpose in ((granted.gateway, "gateway"), (granted.worker, "worker")):
        checked = _invoke("db", "grant", role, "--check", "--for", purpose)  # new partitions change nothing
        assert checked.exit_code == 0, checked.output


def test_a_process_role_cannot_migrate_and_says_who_can(roles: Roles) -> None:
    result = _invoke("db", "upgrade", "--database-url", roles.worker_url)
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"error: the database refused role {roles.worker}: permission denied for schema public"
    )
    assert "OFFSITE_OWNER_DATABASE_URL" in result.stderr
    assert isinstance(result.exception, SystemExit)  # no traceback


def test_grant_refuses_to_run_as_a_process_role_or_to_a_role_that_would_not_be_bound(granted: Roles) -> None:
    result = _invoke("db", "grant", granted.gateway, "--database-url", granted.worker_url)
    assert result.exit_code == 2
    assert f"{granted.worker}, the role connected, owns none of schema public's tables" in result.stderr
    result = _invoke("db", "grant", granted.owner)
    assert result.exit_code == 2
    assert "each process needs a role of its own" in result.stderr
    nobody = f"offsite_t_nobody_{uuid.uuid4().hex[:8]}"
    for args in (("db", "grant", nobody), ("db", "grant", nobody, "--check")):
        result = _invoke(*args)
        assert result.exit_code == 2
        assert "there is no database role" in result.stderr
    result = _invoke("db", "grant", granted.worker, "--for", "owner")
    assert result.exit_code == 2  # a purpose there is not


def test_only_the_owner_retires_months(
    granted: Roles, worker_engine: Engine, owner_engine: Engine, tmp_path: Path
) -> None:
    row = {"device_id": 1, "factor": "a01012", "ts": datetime(2026, 1, 5, tzinfo=UTC), "rtd": 2.0, "zs_rtd": None}
    row |= {"flag": "N", "eflag": None, "raw_id": None}
    with worker_engine.begin() as conn:
        ValueWriter().realtime(conn, [row])
    with pytest.raises(
        PermissionRefused, match=f"{granted.worker} does not own realtime_value .owner: {granted.owner}"
    ):
        retire_realtime(worker_engine, date(2026, 2, 1), tmp_path / "out")
    assert not (tmp_path / "out").exists()  # refused before any file was written
    done = retire_realtime(owner_engine, date(2026, 2, 1), tmp_path / "out")
    assert [(d.month.isoformat(), d.rows) for d in done] == [("2026-01-01", 1)]
    with owner_engine.connect() as conn:
        assert "realtime_value_p202601" not in existing(conn, "realtime_value")
