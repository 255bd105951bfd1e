"""Carry out `--prune` removals in the caller's transaction, each leaving its audit trail.

A consumer leaves a row in consumer_deletions (its kind, key, status and spec); its references and links go with
it (ON DELETE CASCADE). A segment goes as `segment delete` removes one (memberships, logs), with a tombstone in
segment_deletions (reason `pruned by apply`) and a `deleted` row in its definition history.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from segpipe.apply.prune import SEGMENT, Removal
from segpipe.db import schema as t
from segpipe.lifecycle.operations import remove_segment
from segpipe.store.segments import require_segment

PRUNE_REASON = "pruned by apply"


def execute_removals(conn: Connection, removals: Sequence[Removal], actor: str | None) -> None:
    """Remove in the planned order (consumers, then segments referencing ones first)."""
    for removal in removals:
        if removal.kind == SEGMENT:
            remove_segment(conn, require_segment(conn, removal.key), actor, reason=PRUNE_REASON)
        else:
            _remove_consumer(conn, removal.kind, removal.key, actor)


def _remove_consumer(conn: Connection, kind: str, key: str, actor: str | None) -> None:
    c, gone = t.consumers, t.consumer_deletions
    where = (c.c.kind == kind, c.c.key == key)
    tombstone = sa.select(
        c.c.kind, c.c.key, c.c.name, c.c.status, c.c.spec, sa.literal(actor, sa.Text), sa.literal(PRUNE_REASON)
    ).where(*where)
    columns = ["kind", "key", "name", "status", "spec", "actor", "reason"]
    conn.execute(sa.insert(gone).from_select(columns, tombstone))
    conn.execute(sa.delete(c).where(*where))
