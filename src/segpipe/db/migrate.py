"""Apply `sql/NNNN_name.sql` migrations in order, each in its own transaction, serialized by an advisory lock.

After them `sql/grants.sql` (the privileges of segpipe's group roles, docs/security.md) runs whenever a migration
was applied or the file changed. A session whose schema is up to date only reads (one query), so roles that may
not create anything (segpipe_reader, ...) start commands like any other.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from segpipe.db.engine import driver_connection, xact_lock
from segpipe.errors import GateRefused, SegpipeError

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_applied_for: set[str] = set()


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available_migrations() -> list[Migration]:
    """The migrations shipped with the package, ordered by version."""
    found = []
    for entry in (resources.files("segpipe") / "migrations").iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


def _run_script(conn: Connection, sql: str) -> None:
    """Run a multi-statement script as written: no parameter parsing, so `%` in function bodies is literal."""
    with driver_connection(conn).cursor() as cursor:
        cursor.execute(sql.encode())


def _ensure_table(conn: Connection) -> None:
    conn.execute(sa.text("CREATE SCHEMA IF NOT EXISTS segpipe_meta"))
    conn.execute(
        sa.text(
            "CREATE TABLE IF NOT EXISTS segpipe_meta.schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
    )


def _applied(conn: Connection) -> set[int]:
    return set(conn.execute(sa.text("SELECT version FROM segpipe_meta.schema_migrations")).scalars())


def migrate(engine: Engine) -> list[int]:
    """Bring the schema up to date; returns the versions applied now. Safe to call from many processes at once."""
    key = engine.url.render_as_string(hide_password=True)
    if key in _applied_for:
        return []
    migrations = available_migrations()
    grants = grants_script()
    if _up_to_date(engine, {m.version for m in migrations}, grants):
        _applied_for.add(key)
        return []
    done: list[int] = []
    try:
        for migration in migrations:
            with engine.begin() as conn:
                xact_lock(conn, "segpipe", "migrate")
                _ensure_table(conn)
                if migration.version in _applied(conn):
                    continue
                _run_script(conn, migration.sql)
                conn.execute(
                    sa.text("INSERT INTO segpipe_meta.schema_migrations (version, name, checksum) VALUES (:v, :n, :c)"),
                    {"v": migration.version, "n": migration.name, "c": migration.checksum},
                )
                done.append(migration.version)
    except (sa.exc.DBAPIError, psycopg.Error) as exc:
        if _sqlstate(exc) == "42501":
            raise _why_not_migrated(engine) from exc
        raise
    _apply_grants(engine, grants, force=bool(done))
    _applied_for.add(key)
    return done


def _why_not_migrated(engine: Engine) -> SegpipeError:
    """The one line for a role that may not migrate: it is in no segpipe group role (a permission refusal, exit 3,
    like any other privilege Postgres refuses), or the schema is outdated (exit 1: an admin must migrate)."""
    query = sa.text(
        "SELECT session_user, to_regnamespace('segpipe_meta') IS NOT NULL"
        " AND NOT has_schema_privilege('segpipe_meta', 'USAGE')"
    )
    with engine.connect() as conn:
        role, outsider = conn.execute(query).one()
    if outsider:
        return GateRefused(
            "permission",
            f"role '{role}' has no access to segpipe: an admin runs `GRANT segpipe_reader TO \"{role}\";` "
            "(or segpipe_operator / segpipe_editor / segpipe_admin; docs/security.md)",
        )
    return SegpipeError(
        "the database schema needs migrations this role may not apply: run any segpipe command once as an "
        "admin (the schema owner or a superuser; docs/security.md)"
    )


def grants_script() -> Migration:
    """`sql/grants.sql`: the privileges of the group roles (version 0: not a migration)."""
    text = (resources.files("segpipe") / "migrations" / "grants.sql").read_text(encoding="utf-8")
    return Migration(0, "grants", text)


def _sqlstate(exc: BaseException) -> str | None:
    return getattr(getattr(exc, "orig", None), "sqlstate", None) or getattr(exc, "sqlstate", None)


def _up_to_date(engine: Engine, versions: set[int], grants: Migration) -> bool:
    """One read: every migration applied and the grants current. False when that cannot be read (a fresh database)."""
    query = sa.text(
        "SELECT array(SELECT version FROM segpipe_meta.schema_migrations),"
        " EXISTS (SELECT 1 FROM segpipe_meta.applied_grants WHERE checksum = :c)"
    )
    try:
        with engine.connect() as conn:
            applied, granted = conn.execute(query, {"c": grants.checksum}).one()
    except sa.exc.DBAPIError:
        return False
    return versions <= set(applied) and bool(granted)


def _apply_grants(engine: Engine, grants: Migration, force: bool) -> None:
    """Run grants.sql when a migration was applied or it changed; a role that may not grant leaves it (it is
    granted by the next admin's command)."""
    try:
        with engine.begin() as conn:
            xact_lock(conn, "segpipe", "migrate")
            conn.execute(
                sa.text(
                    "CREATE TABLE IF NOT EXISTS segpipe_meta.applied_grants (checksum text PRIMARY KEY,"
                    " applied_at timestamptz NOT NULL DEFAULT now())"
                )
            )
            fresh = conn.execute(
                sa.text("SELECT NOT EXISTS (SELECT 1 FROM segpipe_meta.applied_grants WHERE checksum = :c)"),
                {"c": grants.checksum},
            ).scalar()
            if force or fresh:
                _run_script(conn, grants.sql)
                conn.execute(
                    sa.text("INSERT INTO segpipe_meta.applied_grants (checksum) VALUES (:c) ON CONFLICT DO NOTHING"),
                    {"c": grants.checksum},
                )
    except (sa.exc.DBAPIError, psycopg.Error) as exc:
        if _sqlstate(exc) != "42501":
            raise
