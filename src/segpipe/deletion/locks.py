"""Session-level advisory locks held by a deletion run on a connection of its own.

("deletion", job id) keeps two processes from running one job; ("refresh", segment key) is the refresh
engine's lock: while a deletion holds it, no refresh of the segment runs and `apply` refuses rule edits.
Both are try-locks: a busy segment or job refuses at once (exit 3) instead of waiting.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from segpipe.db.engine import lock_id
from segpipe.errors import GateRefused, RefreshInProgress
from segpipe.refresh.locks import LOCK_NAME as REFRESH_LOCK

JOB_LOCK = "deletion"


def _try_lock(conn: Connection, *parts: str) -> bool:
    taken = bool(conn.execute(sa.select(sa.func.pg_try_advisory_lock(lock_id(*parts)))).scalar())
    conn.commit()
    return taken


def _unlock(conn: Connection, *parts: str) -> None:
    try:
        if conn.in_transaction():
            conn.rollback()
        conn.execute(sa.select(sa.func.pg_advisory_unlock(lock_id(*parts))))
        conn.commit()
    except sa.exc.SQLAlchemyError:
        # A broken session cannot unlock; discarding it ends the session, which releases its locks.
        conn.invalidate()


@contextmanager
def job_lock(conn: Connection, job_id: uuid.UUID) -> Iterator[None]:
    if not _try_lock(conn, JOB_LOCK, str(job_id)):
        raise GateRefused("deletion-in-progress", f"deletion job {job_id} is running in another process")
    try:
        yield
    finally:
        _unlock(conn, JOB_LOCK, str(job_id))


@contextmanager
def segment_lock(conn: Connection, key: str) -> Iterator[None]:
    if not _try_lock(conn, REFRESH_LOCK, key):
        raise RefreshInProgress(key)
    try:
        yield
    finally:
        _unlock(conn, REFRESH_LOCK, key)


@contextmanager
def deletion_locks(engine: Engine, job_id: uuid.UUID, key: str) -> Iterator[Connection]:
    """A connection holding the job's and the segment's locks for the body; released on exit or crash."""
    with engine.connect() as conn, job_lock(conn, job_id), segment_lock(conn, key):
        yield conn
