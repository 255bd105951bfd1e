"""Pruning the change logs of incremental refresh: drop what every segment's stored state has seen.

A row is consumed once every stored snapshot sees it; every row whose xid is below the smallest snapshot
`xmin` is (a transaction older than a snapshot's xmin had ended when it was taken). With no stored state, this
transaction's own snapshot xmin is the bound. The bound is recorded as the horizon (`change_log_horizon`, only
ever raised) in the same transaction: a state whose snapshot xmin lies below it — stored by a refresh that took
its snapshot before the prune and committed after — is refreshed in full (`incremental.plan_incremental`), so
pruning can never make an incremental refresh miss a change.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from segpipe.db import schema as t


def prune_change_logs(conn: Connection) -> int:
    """Delete consumed change-log rows; returns how many rows were deleted."""
    s, h = t.incremental_state, t.change_log_horizon
    own = sa.func.pg_snapshot_xmin(sa.func.pg_current_snapshot())
    oldest = sa.select(sa.func.min(sa.func.pg_snapshot_xmin(s.c.snapshot))).scalar_subquery()
    bound = sa.func.greatest(h.c.below, sa.func.coalesce(oldest, own))
    conn.execute(sa.update(h).values(below=bound))
    deleted = 0
    for log in (t.profile_changes, t.member_changes):
        deleted += conn.execute(sa.delete(log).where(log.c.xid < sa.select(h.c.below).scalar_subquery())).rowcount
    return deleted
