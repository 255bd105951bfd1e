"""Engines, connections and advisory locks. The only place that turns a Settings into a database."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from segpipe.config import Settings
from segpipe.db import driver_errors
from segpipe.errors import SegpipeError

if TYPE_CHECKING:
    import psycopg


def normalize_url(url: str) -> str:
    """Accept `postgres://` and `postgresql://` URLs too; segpipe always talks psycopg 3."""
    for prefix in ("postgresql+psycopg2://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def resolve_url(settings: Settings) -> str:
    """The configured database URL, or the embedded server's (started on first use)."""
    if settings.database_url:
        return normalize_url(settings.database_url)
    from segpipe.db import embedded

    return embedded.ensure_running(settings.home).url


@lru_cache(maxsize=8)
def _engine_for(url: str) -> Engine:
    engine = sa.create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=8)
    driver_errors.install(engine)  # every driver error becomes TransientDbError or DbError (terminal)
    return engine


def get_engine(settings: Settings, *, migrate: bool = True) -> Engine:
    """An engine for the settings' database, with the schema brought up to date first (contract §1)."""
    engine = _engine_for(resolve_url(settings))
    if migrate:
        from segpipe.db.migrate import migrate as run_migrations

        run_migrations(engine)
    return engine


@contextmanager
def transaction(settings_or_engine: Settings | Engine) -> Iterator[Connection]:
    """A connection inside one transaction: committed on success, rolled back on any error."""
    engine = settings_or_engine if isinstance(settings_or_engine, Engine) else get_engine(settings_or_engine)
    with engine.begin() as conn:
        yield conn


BULK_SETTINGS = {"work_mem": "256MB", "jit": "off"}
"""For large set-based statements: hashes and sorts stay in memory; JIT compiles cost more than they save."""


def set_local(conn: Connection, settings: dict[str, str]) -> None:
    """Set Postgres settings for the current transaction only (`SET LOCAL`, values bound as parameters)."""
    for name, value in settings.items():
        conn.execute(sa.select(sa.func.set_config(name, value, True)))


def driver_connection(conn: Connection) -> psycopg.Connection[Any]:
    """The psycopg connection under `conn` (for COPY and multi-statement scripts), in the caller's transaction."""
    raw = conn.connection.driver_connection
    if raw is None:
        raise SegpipeError("the database connection is closed")
    return cast("psycopg.Connection[Any]", raw)


def lock_id(*parts: str) -> int:
    """A stable signed 64-bit advisory-lock id for a name such as ('refresh', 'segment-key')."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def try_xact_lock(conn: Connection, *parts: str) -> bool:
    """Take a transaction-scoped advisory lock without waiting; False when another session holds it."""
    return bool(conn.execute(sa.text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": lock_id(*parts)}).scalar())


def xact_lock(conn: Connection, *parts: str) -> None:
    """Take a transaction-scoped advisory lock, waiting for it."""
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_id(*parts)})


def is_locked(conn: Connection, *parts: str) -> bool:
    """True while some session holds the advisory lock (any mode)."""
    key = lock_id(*parts)
    query = sa.text(
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND ((classid::bigint << 32) | objid::bigint) = :k)"
    )
    return bool(conn.execute(query, {"k": key}).scalar())
