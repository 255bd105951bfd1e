"""Message-activity counts of a campaign, anonymized rows (of deleted profiles) included."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from segpipe.db.schema import activity, consumers
from segpipe.errors import NotFound
from segpipe.load.validate import ACTIVITY_KINDS


def campaign_stats(conn: Connection, key: str) -> dict[str, int]:
    """`{kind: count}` with every activity kind (0 when absent), in the order sent, delivered, open, ...

    A key that is neither an applied Campaign nor found in the activity is NotFound (exit 2).
    """
    query = sa.select(activity.c.kind, sa.func.count()).where(activity.c.campaign == key).group_by(activity.c.kind)
    found = dict(conn.execute(query).tuples().all())
    if not found and not _is_campaign(conn, key):
        raise NotFound(f"campaign '{key}' not found: no Campaign applied and no activity loaded with this key")
    return {kind: int(found.get(kind, 0)) for kind in ACTIVITY_KINDS}


def _is_campaign(conn: Connection, key: str) -> bool:
    query = sa.select(sa.literal(1)).where(consumers.c.kind == "campaign", consumers.c.key == key)
    return conn.execute(query).first() is not None
