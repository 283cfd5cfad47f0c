"""Two database roles on PostgreSQL: the owner, which migrates, and the application's role, which
the gateway, the worker and the web connect as and which is granted only what they need.

The archive's tables are append-only: the application may read them and append to them, never
change, empty or drop them. Every other table it may read and write. It owns nothing, so it can
neither alter a table nor drop the triggers that refuse UPDATE and DELETE on the archive (the
owner still can: tamper evidence against the owner is the signed heads published outside the
database). The grants are deployment actions, made by ``offsite db grant ROLE`` as the owner and
repeated at will; they are no part of the schema's migrations.

What the application needs beyond plain DML, and how it gets it:

- staging tables for binary COPY (``offsite.store.values``) are temporary tables: TEMPORARY on
  the database;
- ``nextval`` on the archive's id sequence (its COPY path): USAGE on the sequences;
- new monthly partitions (``offsite.store.partitions``): creating one needs the parent's owner, so
  the owner provides a function that creates exactly that and nothing else;
- dropping old months (``offsite store retire``) is the owner's act: the application cannot.

Tables and sequences the owner creates later (new migrations) are granted to the application by
default privileges; an append-only table among them gets its UPDATE and DELETE taken back by
``offsite db upgrade`` (and by ``offsite db grant``), as long as it carries the append-only trigger
(``offsite_append_only``) or is named by the caller.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import Connection, text

APPEND_ONLY_FUNCTION = "offsite_append_only"
"""The trigger function of migration 0001 that refuses UPDATE, DELETE and TRUNCATE on a table."""

VERSION_TABLE = "alembic_version"
"""The schema's revision: the application reads it (to refuse a schema not at head), never writes it."""

TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")
APPEND_ONLY_PRIVILEGES = ("SELECT", "INSERT")
SEQUENCE_PRIVILEGES = ("USAGE", "SELECT")
DATABASE_PRIVILEGES = ("CONNECT", "TEMPORARY")
CHANGING_PRIVILEGES = ("UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
"""What nobody but the owner may hold on an append-only table."""

_IN_SCHEMA = "c.relnamespace = (SELECT n.oid FROM pg_namespace n WHERE n.nspname = current_schema())"

INSUFFICIENT_PRIVILEGE = "42501"
"""SQLSTATE of ``permission denied`` and ``must be owner``."""


class RoleError(RuntimeError):
    """The grants cannot be made as asked (no such role, the wrong connected role, tables owned by another)."""


class PermissionRefused(RuntimeError):
    """The connected database role may not do what was asked; the message says which role should."""


@dataclass
class Granted:
    """What ``grant_application_role`` granted, and what it found still wrong."""

    role: str
    owner: str
    database: str
    schema: str
    tables: list[str] = field(default_factory=list)
    """Read and written: every table but the append-only ones and the schema's revision (read only)."""
    append_only: list[str] = field(default_factory=list)
    sequences: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def grant_application_role(conn: Connection, role: str, append_only: Iterable[str]) -> Granted:
    """Grant ``role`` what the application needs in the connected database and schema, and no more.

    Run as the role that owns every table of the schema (the default privileges are that role's).
    Whatever ``role`` held on the schema's tables and sequences before is revoked first, in the
    same transaction, so running it again converges on the same grants. ``append_only`` names the
    archive's tables; tables carrying the append-only trigger are added to them.
    """
    _require_postgresql(conn)
    owner, database, schema = conn.execute(text("SELECT current_user, current_database(), current_schema()")).one()
    _check_ownership(conn, owner, schema)
    _check_role(conn, role, owner)
    q = _quote
    r, s = q(role), q(schema)
    granted = Granted(role=role, owner=owner, database=database, schema=schema)
    granted.append_only = append_only_tables(conn, append_only)
    relations = _relations(conn, "rpvmf")
    granted.tables = [t for t in relations if t not in granted.append_only and t != VERSION_TABLE]
    granted.sequences = _relations(conn, "S")
    defaults = f"ALTER DEFAULT PRIVILEGES FOR ROLE {q(owner)} IN SCHEMA {s}"
    statements = [
        f"GRANT {', '.join(DATABASE_PRIVILEGES)} ON DATABASE {q(database)} TO {r}",
        f"GRANT USAGE ON SCHEMA {s} TO {r}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {r}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {s} FROM {r}",
        f"GRANT {', '.join(TABLE_PRIVILEGES)} ON ALL TABLES IN SCHEMA {s} TO {r}",
        f"GRANT {', '.join(SEQUENCE_PRIVILEGES)} ON ALL SEQUENCES IN SCHEMA {s} TO {r}",
        f"{defaults} GRANT {', '.join(TABLE_PRIVILEGES)} ON TABLES TO {r}",
        f"{defaults} GRANT {', '.join(SEQUENCE_PRIVILEGES)} ON SEQUENCES TO {r}",
    ]
    for table in granted.append_only:
        statements.append(f"REVOKE ALL ON {s}.{q(table)} FROM {r}")
        statements.append(f"GRANT {', '.join(APPEND_ONLY_PRIVILEGES)} ON {s}.{q(table)} TO {r}")
    if VERSION_TABLE in relations:
        statements.append(f"REVOKE ALL ON {s}.{q(VERSION_TABLE)} FROM {r}")
        statements.append(f"GRANT SELECT ON {s}.{q(VERSION_TABLE)} TO {r}")
    for statement in statements:
        conn.execute(text(statement))
    granted.problems = problems(conn, role, granted.append_only)
    return granted


def append_only_tables(conn: Connection, named: Iterable[str]) -> list[str]:
    """The schema's append-only tables: those ``named`` that exist, those carrying the append-only
    trigger, and the partitions of either."""
    rows = conn.execute(
        text(
            "SELECT DISTINCT c.relname FROM pg_class c "
            "WHERE " + _IN_SCHEMA + " AND c.relkind IN ('r', 'p') AND ("
            "  c.relname = ANY(:named) OR EXISTS ("
            "    SELECT 1 FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid"
            "    WHERE t.tgrelid = c.oid AND p.proname = :function))"
        ),
        {"named": list(named), "function": APPEND_ONLY_FUNCTION},
    ).scalars()
    found = set(rows)
    for table in list(found):
        found.update(
            conn.execute(
                text(
                    "SELECT c.relname FROM pg_partition_tree(CAST(:table AS regclass)) t "
                    "JOIN pg_class c ON c.oid = t.relid"
                ),
                {"table": _qualified(conn, table)},
            ).scalars()
        )
    return sorted(found)


def seal_append_only(conn: Connection, named: Iterable[str]) -> list[str]:
    """Take every privilege that could change or empty an append-only table back from every role
    but its owner (PUBLIC included): a table added by a migration got UPDATE and DELETE from the
    default privileges. Returns what was revoked, one line each; nothing on SQLite."""
    if conn.dialect.name != "postgresql":
        return []
    revoked = []
    for table in append_only_tables(conn, named):
        rows = conn.execute(
            text(
                "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END, "
                "       string_agg(DISTINCT a.privilege_type, ', ' ORDER BY a.privilege_type) "
                "FROM pg_class c, aclexplode(c.relacl) a "
                "WHERE c.oid = CAST(:table AS regclass) AND a.grantee <> c.relowner "
                "  AND a.privilege_type = ANY(:changing) GROUP BY 1 ORDER BY 1"
            ),
            {"table": _qualified(conn, table), "changing": list(CHANGING_PRIVILEGES)},
        ).all()
        for grantee, privileges in rows:
            who = "PUBLIC" if grantee == "PUBLIC" else _quote(grantee)
            conn.execute(text(f"REVOKE {privileges} ON {_qualified(conn, table)} FROM {who}"))
            revoked.append(f"{privileges} on {table} from {grantee}")
    return revoked


def problems(conn: Connection, role: str, append_only: Iterable[str]) -> list[str]:
    """What ``role`` may do that it should not, or may not do that the application needs, counting
    what it holds through PUBLIC and through the roles it belongs to; empty when all is as granted."""
    _require_postgresql(conn)
    found = []
    database, schema = conn.execute(text("SELECT current_database(), current_schema()")).one()
    for privilege in DATABASE_PRIVILEGES:
        if not _has(conn, "database", role, database, privilege):
            found.append(f"{role} lacks {privilege} on database {database}: the database's owner grants it")
    if _has(conn, "database", role, database, "CREATE"):
        found.append(f"{role} may create schemas in database {database}: REVOKE CREATE ON DATABASE … FROM it")
    if not _has(conn, "schema", role, schema, "USAGE"):
        found.append(f"{role} lacks USAGE on schema {schema}")
    if _has(conn, "schema", role, schema, "CREATE"):
        found.append(
            f"{role} may create tables in schema {schema} (granted to it or to PUBLIC): "
            f"REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC (and from {role})"
        )
    for table in append_only:
        qualified = _qualified(conn, table)
        for privilege in CHANGING_PRIVILEGES:
            if _has(conn, "table", role, qualified, privilege):
                found.append(f"{role} may {privilege} {table}, which is append-only")
        if not _has_trigger(conn, qualified):
            found.append(f"{table} lacks its append-only trigger ({APPEND_ONLY_FUNCTION}): was it dropped?")
    owners = conn.execute(
        text(
            "SELECT DISTINCT pg_get_userbyid(c.relowner) FROM pg_class c "
            "WHERE " + _IN_SCHEMA + " AND c.relkind IN ('r', 'p', 'S', 'v', 'm', 'f') "
            "AND pg_has_role(:role, c.relowner, 'USAGE') ORDER BY 1"
        ),
        {"role": role},
    ).scalars()
    for owner in owners:
        found.append(
            f"{role} has the privileges of {owner}, which owns tables of schema {schema}: it may alter or drop them"
        )
    if conn.scalar(text("SELECT rolsuper FROM pg_roles WHERE rolname = :role"), {"role": role}):
        found.append(f"{role} is a superuser: no grant binds it")
    return found


def require_owner(conn: Connection, table: str, doing: str) -> None:
    """``PermissionRefused`` unless the connected role has the privileges of ``table``'s owner
    (PostgreSQL; SQLite has no roles)."""
    if conn.dialect.name != "postgresql":
        return
    row = conn.execute(
        text(
            "SELECT current_user, pg_get_userbyid(c.relowner), pg_has_role(current_user, c.relowner, 'USAGE') "
            "FROM pg_class c WHERE c.oid = to_regclass(:table)"
        ),
        {"table": table},
    ).one_or_none()
    if row is not None and not row[2]:
        raise PermissionRefused(
            f"the database role {row[0]} does not own {table} (owner: {row[1]}), and {doing}: connect as "
            "the role that owns the schema (the URL of OFFSITE_OWNER_DATABASE_URL)"
        )


def refusal(exc: BaseException) -> str | None:
    """The server's message if ``exc`` is, or was caused by, a refused privilege; else None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if getattr(current, "sqlstate", None) == INSUFFICIENT_PRIVILEGE:
            return str(current).strip().splitlines()[0]
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else (current.__cause__ or current.__context__)
    return None


def _require_postgresql(conn: Connection) -> None:
    if conn.dialect.name != "postgresql":
        raise RoleError(f"database roles are PostgreSQL's; this database is {conn.dialect.name}, which has none")


def _check_role(conn: Connection, role: str, owner: str) -> None:
    row = conn.execute(
        text("SELECT rolsuper, pg_has_role(rolname, current_user, 'USAGE') FROM pg_roles WHERE rolname = :role"),
        {"role": role},
    ).one_or_none()
    if row is None:
        raise RoleError(f"there is no database role {role}: create it first (CREATE ROLE … LOGIN PASSWORD …)")
    if role == owner:
        raise RoleError(f"{role} owns the schema (it is the role connected): the application needs a role of its own")
    superuser, member = row
    if superuser:
        raise RoleError(f"{role} is a superuser: no grant would bind it")
    if member:
        raise RoleError(f"{role} has the privileges of {owner}, the schema's owner: REVOKE {owner} FROM {role} first")


def _check_ownership(conn: Connection, owner: str, schema: str) -> None:
    """``RoleError`` unless the connected role owns every table, view and sequence of the schema."""
    rows = conn.execute(
        text(
            "SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c "
            f"WHERE {_IN_SCHEMA} AND c.relkind IN ('r', 'p', 'S', 'v', 'm', 'f') ORDER BY 2, 1"
        )
    ).all()
    foreign = [(name, by) for name, by in rows if by != owner]
    if not foreign:
        return
    others = sorted({by for _, by in foreign})
    if len(foreign) == len(rows):
        raise RoleError(
            f"{owner}, the role connected, owns none of schema {schema}'s tables (they belong to "
            f"{', '.join(others)}): run this as the role that owns the schema (OFFSITE_OWNER_DATABASE_URL)"
        )
    shown = ", ".join(f"{name} ({by})" for name, by in foreign[:10]) + (" …" if len(foreign) > 10 else "")
    raise RoleError(
        f"{len(foreign)} relations of schema {schema} are not owned by {owner}, the role connected: {shown}. "
        f"Give them to {owner} first: ALTER TABLE … OWNER TO {owner} for each, or as a superuser "
        f"{'; '.join(f'REASSIGN OWNED BY {o} TO {owner}' for o in others)} (which moves everything those "
        "roles own in this database)"
    )


def _relations(conn: Connection, kinds: str) -> list[str]:
    """Names of the current schema's relations of these ``pg_class.relkind`` kinds."""
    query = f"SELECT c.relname FROM pg_class c WHERE {_IN_SCHEMA} AND c.relkind = ANY(:kinds) ORDER BY c.relname"
    return list(conn.execute(text(query), {"kinds": list(kinds)}).scalars())


def _has(conn: Connection, kind: str, role: str, name: str, privilege: str) -> bool:
    function = {"database": "has_database_privilege", "schema": "has_schema_privilege", "table": "has_table_privilege"}
    return bool(
        conn.scalar(
            text(f"SELECT {function[kind]}(:role, :name, :privilege)"),
            {"role": role, "name": name, "privilege": privilege},
        )
    )


def _has_trigger(conn: Connection, qualified: str) -> bool:
    """Whether the table refuses UPDATE, DELETE and TRUNCATE by the append-only trigger function."""
    kinds = conn.execute(
        text(
            "SELECT t.tgtype FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
            "WHERE t.tgrelid = CAST(:table AS regclass) AND p.proname = :function AND t.tgenabled <> 'D'"
        ),
        {"table": qualified, "function": APPEND_ONLY_FUNCTION},
    ).scalars()
    covered = 0
    for tgtype in kinds:
        covered |= tgtype
    update, delete, truncate = 16, 8, 32  # TRIGGER_TYPE_UPDATE, _DELETE, _TRUNCATE (pg_trigger.h)
    return covered & (update | delete | truncate) == update | delete | truncate


def _qualified(conn: Connection, table: str) -> str:
    """``"schema"."table"`` in the current schema."""
    return f"{_quote(str(conn.scalar(text('SELECT current_schema()'))))}.{_quote(table)}"


def _quote(name: str) -> str:
    """A quoted identifier: role, schema and table names are used as they are spelled."""
    return '"' + name.replace('"', '""') + '"'
