"""`lifecycle.usage.load_usage`, kept between requests while the tables it reads are unchanged.

Reading every segment and consumer costs tens of milliseconds with 1,000 segments, most of it building rows in
Python; a page needs it for one segment's usage and liveness. A fingerprint of those tables (row count and the sum
of a hash of each row version's `xmin`: any insert, update or delete changes it) costs about a millisecond, so a
page re-reads usage only after a change, and never shows usage older than its own request. (A row version's
`xmin` is the id of the transaction that wrote it, so every committed change brings a new one.)
"""

from __future__ import annotations

import threading

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from segpipe.db import schema as t
from segpipe.lifecycle.usage import UsageIndex, load_usage

USAGE_TABLES = (t.segments, t.segment_dependencies, t.consumers, t.consumer_segments, t.consumer_links)
"""The tables `load_usage` reads."""


def usage_fingerprint(conn: Connection) -> tuple[str, ...]:
    """Changes whenever a transaction commits an insert, update or delete in USAGE_TABLES: `count:sum of
    hash(xmin)` per table."""
    xmin_hash = sa.func.hashtext(sa.cast(sa.literal_column("xmin"), sa.Text))
    total = sa.cast(sa.func.count(), sa.Text) + ":" + sa.cast(sa.func.coalesce(sa.func.sum(xmin_hash), 0), sa.Text)
    query = sa.select(*(sa.select(total).select_from(table).scalar_subquery() for table in USAGE_TABLES))
    return tuple(conn.execute(query).one())


class UsageCache:
    """One UsageIndex per fingerprint; safe to share between the server's worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entry: tuple[tuple[str, ...], UsageIndex] | None = None

    def get(self, conn: Connection) -> UsageIndex:
        fingerprint = usage_fingerprint(conn)
        entry = self._entry
        if entry is not None and entry[0] == fingerprint:
            return entry[1]
        index = load_usage(conn)
        with self._lock:
            self._entry = (fingerprint, index)
        return index
