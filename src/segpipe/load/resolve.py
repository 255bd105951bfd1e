"""Finding the profiles of staged rows without deadlocks and without stragglers.

Every merge resolves external ids to profile ids here first, in a fixed lock order:

1. the existing profiles of the staged ids are row-locked **in profile id order** (`FOR KEY SHARE` for
   events, subscriptions and activity; `FOR NO KEY UPDATE` for a profiles load, which updates them). A
   deletion (which deletes profiles, also by id) then either waits for the load or has committed before the
   lock was granted, in which case the locked set lacks the deleted profiles: no row of this load can be linked
   to a profile deleted meanwhile (no stragglers for the deletion's verification to sweep);
2. missing profiles are created **in external_id order** (events and subscriptions; activity rejects them);
3. if another session created some of the same ids meanwhile (`ON CONFLICT DO NOTHING` skipped them), lock
   again, so those are locked too.

`KEY SHARE` does not conflict with the `NO KEY UPDATE` lock of a profile update, so loads of events never wait
for profile loads or `identify` on the same profiles; only deletion waits. File loads of one kind also take a
transaction advisory lock before their merge (see `serialize`), so two such loads merge one after the other:
the end state is a serial order, e.g. two concurrent loads of one events file store each event once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection

from segpipe.db.engine import xact_lock
from segpipe.db.schema import profiles

T = TypeVar("T")

DEADLOCK = "40P01"
ATTEMPTS = 5
"""Tries of one merge before a deadlock reaches the user (each after a rollback to the merge's savepoint)."""
_RESOLVE_ROUNDS = 10


def known(external_id: sa.ColumnElement) -> sa.ColumnElement:
    """True for an external_id that has a profile (an anti-join with `~`)."""
    return sa.exists().where(profiles.c.external_id == external_id)


def lock_profiles(conn: Connection, src: sa.FromClause, *, update: bool = False) -> int:
    """Row-lock the existing profiles of `src`'s external ids in id order; returns how many there are."""
    p = profiles.c
    locked = (
        sa.select(p.id)
        .where(p.external_id.in_(sa.select(src.c.external_id)))
        .order_by(p.id)
        .with_for_update(read=not update, key_share=True)
        .subquery("locked")
    )
    return int(conn.execute(sa.select(sa.func.count()).select_from(locked)).scalar_one())


def _create_missing(conn: Connection, src: sa.FromClause) -> tuple[int, int]:
    """Insert the profiles of unknown external ids (created_at = now), in external_id order (so that two
    sessions creating the same ids wait for each other instead of deadlocking). Returns (missing, created):
    fewer created than missing means another session created some meanwhile. The anti-join keeps known ids
    away from ON CONFLICT, which would burn an identity value and a speculative insertion for each."""
    missing = sa.select(src.c.external_id).where(~known(src.c.external_id)).distinct().cte("missing")
    created = (
        pg_insert(profiles)
        .from_select(["external_id"], sa.select(missing.c.external_id).order_by(missing.c.external_id))
        .on_conflict_do_nothing(index_elements=[profiles.c.external_id])
        .returning(profiles.c.id)
        .cte("created")
    )
    counts = sa.select(
        sa.select(sa.func.count()).select_from(missing).scalar_subquery(),
        sa.select(sa.func.count()).select_from(created).scalar_subquery(),
    )
    found, made = conn.execute(counts).one()
    return int(found), int(made)


def resolve_profiles(conn: Connection, src: sa.FromClause, *, create: bool, update: bool = False) -> int:
    """Lock every existing profile of `src` and, with `create`, create the missing ones (see the module
    docstring for the order). Returns how many profiles were created."""
    created = 0
    for _ in range(_RESOLVE_ROUNDS):
        lock_profiles(conn, src, update=update)
        if not create:
            return created
        missing, made = _create_missing(conn, src)
        created += made
        if made == missing:
            return created
    raise RuntimeError("profiles of this load kept being created and deleted by other sessions")


def serialize(conn: Connection, kind: str) -> None:
    """One merge of each kind at a time (a transaction advisory lock, released at commit or rollback)."""
    xact_lock(conn, "load", kind)


def _is_deadlock(exc: sa.exc.DBAPIError) -> bool:
    return getattr(exc.orig, "sqlstate", None) == DEADLOCK


def retry_deadlocks(conn: Connection, step: Callable[[], T], *, attempts: int = ATTEMPTS) -> T:
    """Run `step` in a savepoint; when Postgres picks it as a deadlock victim, roll back to the savepoint and
    run it again (the staged rows survive), after a short random pause. The lock order above makes this a
    backstop: it is reached only through sessions that lock in another order (e.g. a deletion's scan)."""
    for attempt in range(1, attempts + 1):
        savepoint = conn.begin_nested()
        try:
            result = step()
        except sa.exc.DBAPIError as exc:
            if not _is_deadlock(exc) or attempt == attempts:
                raise  # the load's transaction rolls back as a whole
            savepoint.rollback()
            time.sleep(random.uniform(0.05, 0.2) * attempt)
            continue
        savepoint.commit()
        return result
    raise AssertionError("unreachable")
