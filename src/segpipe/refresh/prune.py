"""Pruning the change logs of incremental refresh: drop what every segment's stored state has seen.

A row is consumed once every stored snapshot sees it; every row whose xid is below the smallest snapshot
`xmin` is (a transaction older than a snapshot's xmin had ended when it was taken). With no stored state, this
transaction's own snapshot xmin is the bound. The bound is recorded as the horizon (`change_log_horizon`, only
ever raised) in the same transaction: a state whose snapshot xmin lies below it — stored by a refresh that took
its snapshot before the prune and committed after — is refreshed in full (`incremental.plan_incremental`), so
pruning can never make an incremental refresh miss a change.

The logs are unlogged: crash recovery empties them and the horizon row (until a prune re-creates it, nothing is
covered); the prune re-creates it at its snapshot's xmin, above every xid from before the restart, so every
state stored before the crash recomputes in full.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from segpipe.db import schema as t

_UPSERT_HORIZON = """
INSERT INTO {horizon} (one, below) VALUES (true, pg_snapshot_xmin(pg_current_snapshot()))
ON CONFLICT (one) DO UPDATE SET below = greatest({horizon}.below, coalesce(
    (SELECT min(pg_snapshot_xmin(snapshot)) FROM {states}), pg_snapshot_xmin(pg_current_snapshot())))
"""


def prune_change_logs(conn: Connection) -> int:
    """Delete consumed change-log rows; returns how many rows were deleted.

    After a crash emptied the unlogged logs (and the horizon row), the insert branch puts the horizon at this
    snapshot's xmin: every transaction running now started after the restart, so every state stored before the
    crash lies below it and is uncovered."""
    h = t.change_log_horizon
    table = conn.dialect.identifier_preparer.format_table
    conn.execute(sa.text(_UPSERT_HORIZON.format(horizon=table(h), states=table(t.incremental_state))))
    deleted = 0
    for log in (t.profile_changes, t.member_changes):
        deleted += conn.execute(sa.delete(log).where(log.c.xid < sa.select(h.c.below).scalar_subquery())).rowcount
    return deleted
