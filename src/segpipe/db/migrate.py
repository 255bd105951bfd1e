"""Apply `sql/NNNN_name.sql` migrations in order, each in its own transaction, serialized by an advisory lock."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from segpipe.db.engine import driver_connection, xact_lock

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
    done: list[int] = []
    for migration in available_migrations():
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
    _applied_for.add(key)
    return done
