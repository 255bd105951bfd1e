"""A run-wide advisory lock held by a flow for its whole duration (e.g. no two scheduled refreshes at once)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from segpipe.db.engine import lock_id
from tasks import db


@contextmanager
def exclusive(name: str) -> Iterator[bool]:
    """Try the session-level advisory lock `name` without waiting; yields whether this run holds it.

    Held on a connection of its own until the block ends; a crashed process's session ends and frees it.
    """
    with db.engine().connect() as conn:
        held = bool(conn.execute(sa.select(sa.func.pg_try_advisory_lock(lock_id(name)))).scalar())
        conn.commit()
        try:
            yield held
        finally:
            if held:
                _unlock(conn, name)


def _unlock(conn: sa.engine.Connection, name: str) -> None:
    try:
        conn.execute(sa.select(sa.func.pg_advisory_unlock(lock_id(name))))
        conn.commit()
    except sa.exc.SQLAlchemyError:
        conn.invalidate()
