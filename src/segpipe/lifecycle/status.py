"""Writing a segment's status and its lifecycle log, so that every change is recorded with its reason.

Times are *effective* times: a change made by `classify --as-of T` happens at T. A segment's own clock never runs
backwards: a change is stamped with the later of its time and the segment's previous status change, so a resume
right after a classification "in the future" still counts as after it (and restarts the grace period there).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from segpipe.db import schema as t

_s = t.segments
STATUSES = ("active", "inactive")


def set_statuses(conn: Connection, changes: Sequence[tuple[str, str, str]], at: datetime) -> dict[str, datetime]:
    """Apply (key, new status, reason) changes, set-based; records each real change in segment_status_changes.

    Keys already in the wanted status are left alone. Returns key → effective time of each change made.
    """
    if not changes:
        return {}
    wanted = sa.values(
        sa.column("key", sa.Text), sa.column("status", sa.Text), sa.column("reason", sa.Text), name="wanted"
    ).data(list(changes))
    changed = (
        sa.update(_s)
        .where(_s.c.key == wanted.c.key, _s.c.status != wanted.c.status)
        .values(
            status=wanted.c.status,
            status_reason=wanted.c.reason,
            status_changed_at=sa.func.greatest(_s.c.status_changed_at, sa.literal(at, t.TS)),
        )
        .returning(_s.c.id, _s.c.key, _s.c.status, _s.c.status_reason, _s.c.status_changed_at)
        .cte("changed")
    )
    old = sa.case((changed.c.status == "active", "inactive"), else_="active")
    recorded = (
        sa.insert(t.segment_status_changes)
        .from_select(
            ["segment_id", "at", "old_status", "new_status", "reason"],
            sa.select(changed.c.id, changed.c.status_changed_at, old, changed.c.status, changed.c.status_reason),
        )
        .cte("recorded")
    )
    query = sa.select(changed.c.key, changed.c.status_changed_at).add_cte(recorded)
    return {key: when for key, when in conn.execute(query)}


def effective_time(conn: Connection, segment_id: int, at: datetime | None = None) -> datetime:
    """The later of `at` (default: now) and the segment's last status change: when an action on it happens."""
    when = sa.func.now() if at is None else sa.literal(at, t.TS)
    query = sa.select(sa.func.greatest(_s.c.status_changed_at, when)).where(_s.c.id == segment_id)
    return conn.execute(query).scalar_one()
