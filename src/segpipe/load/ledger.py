"""Loaded contents: the second load of the same events changes nothing (docs/loading.md).

Events without an `event_id` append (contract §2): two identical rows are two events. A file loaded twice — the
usual fix after a `--skip-invalid` run, or a retried job — would then count every such event twice. So a load of
events keeps a SHA-256 digest of its parsed, valid rows, in order; a later load whose rows have the same digest is
recognised under the kind's merge lock and merges nothing. Only the exact same rows match: a file with one row
more or less is new content (give events an `event_id` to make partial reloads idempotent too).
"""

from __future__ import annotations

import hashlib
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection

from segpipe.db import schema as t

KINDS = frozenset({"events"})
"""The kinds that append without a natural key of every row; the others are idempotent by their keys."""


class ContentDigest:
    """The running digest of the rows a load stages (each row's values, in file order)."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()

    def add(self, values: tuple[Any, ...]) -> None:
        self._hash.update(repr(values).encode("utf-8", "surrogatepass") + b"\n")

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def seen(conn: Connection, kind: str, digest: str) -> bool:
    lc = t.loaded_contents
    query = sa.select(sa.literal(True)).where(lc.c.kind == kind, lc.c.sha256 == digest)
    return conn.execute(query).first() is not None


def record(conn: Connection, kind: str, digest: str, rows: int) -> None:
    query = pg_insert(t.loaded_contents).values(kind=kind, sha256=digest, rows=rows)
    conn.execute(query.on_conflict_do_nothing())
