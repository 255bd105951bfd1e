"""One refresh per segment at a time, across processes: a session-level advisory lock named ("refresh", key).

`apply` refuses rule edits while the lock is held (`is_locked(conn, "refresh", key)`), so the name is fixed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from segpipe.db.engine import is_locked, lock_id

LOCK_NAME = "refresh"


def refresh_in_progress(conn: Connection, key: str) -> bool:
    """True while some session is refreshing the segment (holds its refresh lock)."""
    return is_locked(conn, LOCK_NAME, key)


@contextmanager
def segment_lock(conn: Connection, key: str) -> Iterator[None]:
    """Hold the segment's refresh lock on `conn` across its transactions; waits while another session holds it."""
    with session_lock(conn, LOCK_NAME, key):
        yield


@contextmanager
def session_lock(conn: Connection, *parts: str) -> Iterator[None]:
    """Hold the session-level advisory lock named `parts` on `conn` across its transactions, waiting for it.

    The lock is taken and committed before the body runs, so the body's transactions take their snapshots
    after the previous holder committed.
    """
    conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": lock_id(*parts)})
    conn.commit()
    try:
        yield
    finally:
        _unlock(conn, parts)


def _unlock(conn: Connection, parts: tuple[str, ...]) -> None:
    try:
        if conn.in_transaction():
            conn.rollback()
        conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": lock_id(*parts)})
        conn.commit()
    except sa.exc.SQLAlchemyError:
        # A broken session cannot unlock; discarding it ends the session, which releases the lock.
        conn.invalidate()
