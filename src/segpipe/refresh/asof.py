"""As-of evaluation: a segment's members at a time earlier than its live state, computed without storing anything.

Live membership only moves forward (`guard`). To look at the past — `segment members KEY --as-of T`, `presend
CAMPAIGN --as-of T` — segpipe evaluates the rules at T in one read-only query: a `{segment: KEY}` leaf inlines
KEY's stored rules, evaluated at T too (its stored members belong to another time). No membership, segment or
refresh row changes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from segpipe.refresh.profile_check import stored_rules


def as_of_resolver(conn: Connection, as_of: datetime) -> Callable[[str], sa.Select[Any]]:
    """resolve_segment for the compiler: the referenced segment's members evaluated at `as_of`, recursively."""
    from segpipe.rules import compile_members

    def resolve(key: str) -> sa.Select[Any]:
        return compile_members(stored_rules(conn, key), as_of, resolve, mode="set")

    return resolve


def evaluate_members(conn: Connection, key: str, as_of: datetime) -> sa.Select[Any]:
    """A SELECT of `profile_id`: the segment's members as of `as_of`, evaluated (NotFound for an unknown key)."""
    return as_of_resolver(conn, as_of)(key)


def database_now(conn: Connection) -> datetime:
    """The database's clock: the default `as_of` of a command, as a refresh run takes it."""
    return conn.execute(sa.select(sa.func.clock_timestamp())).scalar_one()
