"""Database roles on PostgreSQL: the owner, which migrates, and the roles the processes connect as,
each granted only what its purpose needs.

The archive (``raw_packet``, ``archive_checkpoint``, any table carrying the append-only trigger,
and their partitions) is append-only, and only the **gateway**'s role may append to it: anyone
who could INSERT there could add forged records, correctly chained, which the gateway would then
take as its chain's head and sign into its next checkpoint. So the roles are granted by purpose
(``offsite db grant ROLE --for gateway|worker|web``):

- ``gateway``: SELECT and INSERT on the archive, and USAGE on its id sequence (``nextval``, which
  the archive's COPY path calls); on the tables the gateway writes elsewhere exactly what it does
  there (``Tables.gateway_writes``: values, device reports, unknown callers, presence, projection
  marks and failures, platform commands, where each chain's spool is) and USAGE on their id
  sequences; SELECT on every other table.
- ``worker`` and ``web`` (and every other command): SELECT only on the archive, nothing on its
  sequences; SELECT, INSERT, UPDATE and DELETE on every other table, USAGE and SELECT on their
  sequences.

Whatever the purpose: SELECT only on the schema's revision, CONNECT and TEMPORARY on the database
(the binary COPY of values stages rows in temporary tables), USAGE on the schema, EXECUTE on the
owner's function that creates monthly partitions (``offsite.store.partitions``: creating one
needs the parent's owner); partitions get what their partitioned table gets. No role but the
owner may UPDATE, DELETE, TRUNCATE or alter the archive, nor TRUNCATE any table. None owns
anything, so none can alter a table or drop the triggers that refuse UPDATE and DELETE on the
archive (the owner still can: tamper evidence against the owner is the signed heads published
outside the database). Dropping old months (``offsite store retire``) is the owner's act.

The grants are deployment actions, made by the owner and repeated at will (granting a role for
another purpose converges: what the new purpose does not need is revoked); they are no part of the
schema's migrations. Tables and sequences the owner creates later are granted by default
privileges (a worker or web role gets DML, a gateway role SELECT); ``offsite db upgrade`` then takes
from every role that may not append to the archive (``appenders``) whatever it got on a new
append-only table, and UPDATE, DELETE, TRUNCATE from every role, as long as the table carries the
append-only trigger (``offsite_append_only``) or is named by the caller.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

from sqlalchemy import Connection, text

APPEND_ONLY_FUNCTION = "offsite_append_only"
"""The trigger function of migration 0001 that refuses UPDATE, DELETE and TRUNCATE on a table."""

VERSION_TABLE = "alembic_version"
"""The schema's revision: every role reads it (to refuse a schema not at head), none writes it."""

Purpose = Literal["gateway", "worker", "web"]
PURPOSES: tuple[Purpose, ...] = get_args(Purpose)
DEFAULT_PURPOSE: Purpose = "worker"
"""The least for the archive: it may read it, never append to it."""

TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
"""Every privilege on a table, in the order they are reported."""
DML = ("SELECT", "INSERT", "UPDATE", "DELETE")
APPEND = ("SELECT", "INSERT")
READ = ("SELECT",)
SEQUENCE_PRIVILEGES = ("USAGE", "SELECT", "UPDATE")
DATABASE_PRIVILEGES = ("CONNECT", "TEMPORARY")
CHANGING_PRIVILEGES = ("UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
"""What nobody but the owner may hold on an append-only table."""
PARTITION_FUNCTION = "offsite_create_partition(text, date)"
"""``offsite.store.partitions.FUNCTION``'s signature (installed by ``allow_creation``)."""

_IN_SCHEMA = "c.relnamespace = (SELECT n.oid FROM pg_namespace n WHERE n.nspname = current_schema())"

INSUFFICIENT_PRIVILEGE = "42501"
"""SQLSTATE of ``permission denied`` and ``must be owner``."""


class RoleError(RuntimeError):
    """The grants cannot be made as asked (no such role, the wrong connected role, tables owned by another)."""


class PermissionRefused(RuntimeError):
    """The connected database role may not do what was asked; the message says which role should."""


@dataclass(frozen=True)
class Tables:
    """What the grants are computed from, besides the schema itself."""

    append_only: tuple[str, ...]
    """The archive's tables by name; tables carrying the append-only trigger are added to them."""
    gateway_writes: Mapping[str, tuple[str, ...]]
    """The tables the gateway writes outside the archive, and the privileges its writes take
    (INSERT; UPDATE too for an upsert). It reads every table."""


@dataclass
class Granted:
    """What ``grant_role`` granted, and what it found still wrong."""

    role: str
    purpose: Purpose
    owner: str
    database: str
    schema: str
    tables: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Each table's privileges (partitions not counted: they get their partitioned table's)."""
    partitions: int = 0
    append_only: list[str] = field(default_factory=list)
    """The archive's tables and their partitions."""
    sequences: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Each sequence granted anything, with what."""
    archive_sequences: list[str] = field(default_factory=list)
    """The sequences of the archive's tables (``raw_packet_id_seq``)."""
    default_tables: tuple[str, ...] = ()
    default_sequences: tuple[str, ...] = ()
    function: str | None = None
    """The signature of the function that creates monthly partitions, if it was installed."""
    problems: list[str] = field(default_factory=list)


def grouped(granted: Mapping[str, tuple[str, ...]]) -> dict[tuple[str, ...], list[str]]:
    """Tables (or sequences) grouped by what they were granted, the most privileges first."""
    groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for name, privileges in granted.items():
        groups[privileges].append(name)
    return dict(sorted(groups.items(), key=lambda item: (-len(item[0]), item[0])))


@dataclass(frozen=True)
class _Relation:
    name: str
    root: str
    """The partitioned table at the top of its tree; the relation itself if not a partition."""
    partition: bool


@dataclass(frozen=True)
class _Sequence:
    name: str
    table: str | None
    """The (root) table whose column the sequence belongs to (serial or identity), if any."""


def purpose_of(value: str) -> Purpose:
    for purpose in PURPOSES:
        if value == purpose:
            return purpose
    raise RoleError(f"no purpose {value!r}: one of {', '.join(PURPOSES)}")


def table_privileges(purpose: Purpose, table: str, archive: Iterable[str], tables: Tables) -> tuple[str, ...]:
    """What a role of ``purpose`` is granted on ``table`` (a table's root, for a partition)."""
    if table == VERSION_TABLE:
        return READ
    if table in archive:
        return APPEND if purpose == "gateway" else READ
    if purpose == "gateway":
        writes = set(tables.gateway_writes.get(table, ()))
        return tuple(p for p in DML if p == "SELECT" or p in writes)
    return DML


def sequence_privileges(purpose: Purpose, table: str | None, archive: Iterable[str], tables: Tables) -> tuple[str, ...]:
    """What a role of ``purpose`` is granted on a sequence of ``table`` (None: of no table)."""
    if purpose == "gateway":
        if table is not None and "INSERT" in table_privileges(purpose, table, archive, tables):
            return ("USAGE",)
        return ()
    if table is not None and table in archive:
        return ()
    return ("USAGE", "SELECT")


def default_privileges(purpose: Purpose) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What a role of ``purpose`` gets, by default, on tables and on sequences the owner creates later."""
    return (READ, ()) if purpose == "gateway" else (DML, ("USAGE", "SELECT"))


def grant_role(
    conn: Connection,
    role: str,
    purpose: Purpose,
    tables: Tables,
    *,
    partitions: Callable[[Connection, str], str] | None = None,
) -> Granted:
    """Grant ``role`` what a process of ``purpose`` needs in the connected database and schema, and no more.

    Run as the role that owns every table of the schema (the default privileges are that role's).
    Whatever ``role`` held on the schema's tables and sequences, and by default on later ones, is
    revoked first, in the same transaction, so running it again, for the same purpose or another,
    converges on that purpose's grants. ``partitions`` installs the owner's function that creates
    monthly partitions and lets ``role`` execute it (``offsite.store.partitions.allow_creation``),
    returning its signature; the problems are found after it.
    """
    _require_postgresql(conn)
    owner, database, schema = conn.execute(text("SELECT current_user, current_database(), current_schema()")).one()
    _check_ownership(conn, owner, schema)
    _check_role(conn, role, owner)
    q = _quote
    r, s = q(role), q(schema)
    granted = Granted(role=role, purpose=purpose, owner=owner, database=database, schema=schema)
    archive = set(append_only_tables(conn, tables.append_only))
    granted.append_only = sorted(archive)
    defaults = f"ALTER DEFAULT PRIVILEGES FOR ROLE {q(owner)} IN SCHEMA {s}"
    statements = [
        f"GRANT {', '.join(DATABASE_PRIVILEGES)} ON DATABASE {q(database)} TO {r}",
        f"GRANT USAGE ON SCHEMA {s} TO {r}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {r}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {s} FROM {r}",
        f"{defaults} REVOKE ALL ON TABLES FROM {r}",
        f"{defaults} REVOKE ALL ON SEQUENCES FROM {r}",
    ]
    table_groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for relation in _relations(conn):
        privileges = table_privileges(purpose, relation.root, archive, tables)
        table_groups[privileges].append(relation.name)
        if relation.partition:
            granted.partitions += 1
        else:
            granted.tables[relation.name] = privileges
    sequence_groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for sequence in _sequences(conn):
        if sequence.table in archive:
            granted.archive_sequences.append(sequence.name)
        privileges = sequence_privileges(purpose, sequence.table, archive, tables)
        if privileges:
            sequence_groups[privileges].append(sequence.name)
            granted.sequences[sequence.name] = privileges
    for privileges, names in table_groups.items():
        statements.append(f"GRANT {', '.join(privileges)} ON TABLE {', '.join(f'{s}.{q(n)}' for n in names)} TO {r}")
    for privileges, names in sequence_groups.items():
        statements.append(f"GRANT {', '.join(privileges)} ON SEQUENCE {', '.join(f'{s}.{q(n)}' for n in names)} TO {r}")
    granted.default_tables, granted.default_sequences = default_privileges(purpose)
    if granted.default_tables:
        statements.append(f"{defaults} GRANT {', '.join(granted.default_tables)} ON TABLES TO {r}")
    if granted.default_sequences:
        statements.append(f"{defaults} GRANT {', '.join(granted.default_sequences)} ON SEQUENCES TO {r}")
    for statement in statements:
        conn.execute(text(statement))
    if partitions is not None:
        granted.function = partitions(conn, role)
    granted.problems = problems(conn, role, purpose, tables)
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


def appenders(conn: Connection, named: Iterable[str]) -> list[str]:
    """The roles, other than the owner, granted INSERT on every one of the ``named`` archive tables
    that exists: the gateways' roles (and, until it is granted again for its purpose, a role
    granted before roles had purposes). Empty on SQLite."""
    if conn.dialect.name != "postgresql":
        return []
    rows = conn.execute(
        text(
            "SELECT pg_get_userbyid(a.grantee) FROM pg_class c, aclexplode(c.relacl) a "
            "WHERE " + _IN_SCHEMA + " AND c.relname = ANY(:named) AND c.relkind IN ('r', 'p') "
            "  AND a.privilege_type = 'INSERT' AND a.grantee <> 0 AND a.grantee <> c.relowner "
            "GROUP BY a.grantee HAVING count(DISTINCT c.oid) = ("
            "  SELECT count(*) FROM pg_class c WHERE " + _IN_SCHEMA + " AND c.relname = ANY(:named)"
            "  AND c.relkind IN ('r', 'p')) ORDER BY 1"
        ),
        {"named": list(named)},
    ).scalars()
    return list(rows)


def seal_append_only(conn: Connection, named: Iterable[str]) -> list[str]:
    """Take back from every role but the owner (PUBLIC included) every privilege that could change
    or empty an append-only table, INSERT from every role but the ``appenders``, and on the archive's
    sequences all but USAGE from the appenders and everything from the others: a table added by a
    migration got DML from the default privileges. Returns what was revoked, one line each;
    nothing on SQLite."""
    if conn.dialect.name != "postgresql":
        return []
    named = list(named)
    allowed = set(appenders(conn, named))
    archive = append_only_tables(conn, named)
    revoked = []
    for table in archive:
        for grantee, held in _grantees(conn, table):
            keep = APPEND if grantee in allowed else READ
            revoked += _revoke(conn, f"TABLE {_qualified(conn, table)}", table, grantee, held=held, keep=keep)
    for sequence in _sequences(conn):
        if sequence.table not in archive:
            continue
        for grantee, held in _grantees(conn, sequence.name):
            nextval: tuple[str, ...] = ("USAGE",) if grantee in allowed else ()
            revoked += _revoke(
                conn, f"SEQUENCE {_qualified(conn, sequence.name)}", sequence.name, grantee, held=held, keep=nextval
            )
    return revoked


def _grantees(conn: Connection, relation: str) -> list[tuple[str, list[str]]]:
    """Who holds what on ``relation`` (of the current schema) but its owner; PUBLIC as ``PUBLIC``."""
    rows = conn.execute(
        text(
            "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END, "
            "       array_agg(DISTINCT a.privilege_type) "
            "FROM pg_class c, aclexplode(c.relacl) a "
            "WHERE c.oid = CAST(:relation AS regclass) AND a.grantee <> c.relowner GROUP BY 1 ORDER BY 1"
        ),
        {"relation": _qualified(conn, relation)},
    ).all()
    return [(grantee, list(held)) for grantee, held in rows]


def _revoke(
    conn: Connection, on: str, name: str, grantee: str, *, held: Iterable[str], keep: Iterable[str]
) -> list[str]:
    """Revoke from ``grantee`` what it ``held`` on ``on`` beyond ``keep``; the line saying so."""
    order = ("USAGE", *TABLE_PRIVILEGES)
    excess = sorted(set(held) - set(keep), key=lambda p: order.index(p) if p in order else len(order))
    if not excess:
        return []
    who = "PUBLIC" if grantee == "PUBLIC" else _quote(grantee)
    conn.execute(text(f"REVOKE {', '.join(excess)} ON {on} FROM {who}"))
    return [f"{', '.join(excess)} on {name} from {grantee}"]


def problems(conn: Connection, role: str, purpose: Purpose, tables: Tables) -> list[str]:
    """What ``role`` may do beyond what a process of ``purpose`` needs, and what it needs but may
    not do, counting what it holds through PUBLIC and through the roles it belongs to; empty when
    all is as ``grant_role`` grants it."""
    _require_postgresql(conn)
    _require_role(conn, role)
    found = []
    database, schema = conn.execute(text("SELECT current_database(), current_schema()")).one()
    again = f"`offsite db grant {role} --for {purpose}`"
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
    archive = set(append_only_tables(conn, tables.append_only))
    beyond: dict[tuple[str, ...], list[str]] = defaultdict(list)
    lacking: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for relation, held in _held(conn, role, "table", TABLE_PRIVILEGES):
        wanted = table_privileges(purpose, relation.root, archive, tables)
        excess = tuple(p for p in TABLE_PRIVILEGES if p in held and p not in wanted)
        if relation.root in archive:
            for privilege in excess:
                if privilege == "INSERT":
                    found.append(
                        f"{role} may INSERT into {relation.name}: only the gateway's role may append to the archive"
                    )
                else:
                    found.append(f"{role} may {privilege} {relation.name}, which is append-only")
        elif excess:
            beyond[excess].append(relation.name)
        missing = tuple(p for p in wanted if p not in held)
        if missing and not relation.partition:
            lacking[missing].append(relation.name)
    for privileges, names in beyond.items():
        found.append(f"{role} may {', '.join(privileges)} on {_listed(names)}: beyond what the {purpose} needs")
    for privileges, names in lacking.items():
        found.append(
            f"{role} lacks {', '.join(privileges)} on {_listed(names)}, which the {purpose} needs: run {again}"
        )
    beyond.clear()
    lacking.clear()
    owners = {s.name: s.table for s in _sequences(conn)}
    for relation, held in _held(conn, role, "sequence", SEQUENCE_PRIVILEGES):
        table = owners.get(relation.name)
        wanted = sequence_privileges(purpose, table, archive, tables)
        excess = tuple(p for p in SEQUENCE_PRIVILEGES if p in held and p not in wanted)
        if table in archive and "USAGE" in excess:
            found.append(
                f"{role} may call nextval on {relation.name} (the ids of {table}): only the gateway's role "
                "may append to the archive"
            )
            excess = tuple(p for p in excess if p != "USAGE")
        if excess:
            beyond[excess].append(relation.name)
        missing = tuple(p for p in wanted if p not in held)
        if missing:
            lacking[missing].append(relation.name)
    for privileges, names in beyond.items():
        found.append(
            f"{role} may {', '.join(privileges)} on {_listed(names, 'sequence')}: beyond what the {purpose} needs"
        )
    for privileges, names in lacking.items():
        found.append(
            f"{role} lacks {', '.join(privileges)} on {_listed(names, 'sequence')}, which the {purpose} needs: "
            f"run {again}"
        )
    function = f"{_quote(schema)}.{PARTITION_FUNCTION}"
    if conn.scalar(text("SELECT to_regprocedure(:f) IS NULL"), {"f": function}):
        found.append(f"{PARTITION_FUNCTION} is not installed (monthly partitions): run {again}")
    elif not conn.scalar(text("SELECT has_function_privilege(:role, :f, 'EXECUTE')"), {"role": role, "f": function}):
        found.append(f"{role} lacks EXECUTE on {PARTITION_FUNCTION} (monthly partitions): run {again}")
    for table in sorted(archive):
        if not _has_trigger(conn, _qualified(conn, table)):
            found.append(f"{table} lacks its append-only trigger ({APPEND_ONLY_FUNCTION}): was it dropped?")
    owners_of = conn.execute(
        text(
            "SELECT DISTINCT pg_get_userbyid(c.relowner) FROM pg_class c "
            "WHERE " + _IN_SCHEMA + " AND c.relkind IN ('r', 'p', 'S', 'v', 'm', 'f') "
            "AND pg_has_role(:role, c.relowner, 'USAGE') ORDER BY 1"
        ),
        {"role": role},
    ).scalars()
    for owner in owners_of:
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


def _require_role(conn: Connection, role: str) -> None:
    if conn.scalar(text("SELECT count(*) FROM pg_roles WHERE rolname = :role"), {"role": role}) == 0:
        raise RoleError(f"there is no database role {role}: create it first (CREATE ROLE … LOGIN PASSWORD …)")


def _check_role(conn: Connection, role: str, owner: str) -> None:
    _require_role(conn, role)
    superuser, member = conn.execute(
        text("SELECT rolsuper, pg_has_role(rolname, current_user, 'USAGE') FROM pg_roles WHERE rolname = :role"),
        {"role": role},
    ).one()
    if role == owner:
        raise RoleError(f"{role} owns the schema (it is the role connected): each process needs a role of its own")
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


_RELATIONS = (
    "SELECT c.relname, COALESCE(r.relname, c.relname), c.relispartition{held} FROM pg_class c "
    "LEFT JOIN pg_class r ON r.oid = pg_partition_root(c.oid) "
    f"WHERE {_IN_SCHEMA} AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY c.relname"
)


def _relations(conn: Connection) -> list[_Relation]:
    """The current schema's tables (views, partitions …), each with the root of its partition tree."""
    rows = conn.execute(text(_RELATIONS.format(held="")))
    return [_Relation(name, root, partition) for name, root, partition in rows]


def _sequences(conn: Connection) -> list[_Sequence]:
    """The current schema's sequences, each with the (root) table whose column owns it, if any."""
    rows = conn.execute(
        text(
            "SELECT c.relname, COALESCE(r.relname, t.relname) FROM pg_class c "
            "LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid "
            "  AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') "
            "LEFT JOIN pg_class t ON t.oid = d.refobjid "
            "LEFT JOIN pg_class r ON r.oid = pg_partition_root(t.oid) "
            f"WHERE {_IN_SCHEMA} AND c.relkind = 'S' ORDER BY c.relname"
        )
    )
    return [_Sequence(name, table) for name, table in rows]


def _held(conn: Connection, role: str, kind: str, privileges: tuple[str, ...]) -> list[tuple[_Relation, set[str]]]:
    """Each table (``kind`` "table") or sequence of the schema, with which of ``privileges`` ``role`` holds."""
    function = {"table": "has_table_privilege", "sequence": "has_sequence_privilege"}[kind]
    held = f", ARRAY(SELECT p FROM unnest(CAST(:privileges AS text[])) p WHERE {function}(:role, c.oid, p))"
    if kind == "table":
        query = _RELATIONS.format(held=held)
    else:
        query = (
            f"SELECT c.relname, c.relname, false{held} FROM pg_class c "
            f"WHERE {_IN_SCHEMA} AND c.relkind = 'S' ORDER BY c.relname"
        )
    rows = conn.execute(text(query), {"role": role, "privileges": list(privileges)})
    return [(_Relation(name, root, partition), set(have)) for name, root, partition, have in rows]


def _listed(names: list[str], kind: str = "table") -> str:
    """``region``, ``sequence alarm_id_seq``, ``3 tables (a, b, c)``."""
    if len(names) == 1:
        return names[0] if kind == "table" else f"{kind} {names[0]}"
    return f"{len(names)} {kind}s ({', '.join(names)})"


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
