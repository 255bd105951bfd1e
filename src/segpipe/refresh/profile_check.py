"""Point evaluation: is one profile in a segment right now (or as of a time)? One indexed query, no refresh.

The segment's stored rules are compiled in point mode (correlated subqueries served by the
`events(profile_id, name, occurred_at)` and `subscriptions(profile_id, channel, ...)` indexes) and evaluated for
the one profile found through `profiles.external_id`. A `{segment: KEY}` reference is evaluated live too: KEY's
stored rules are inlined, recursively, rather than read from its memberships as of its last refresh.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from segpipe.db import schema as t
from segpipe.errors import NotFound
from segpipe.rules import RuleNode, compile_predicate, parse_rules
from segpipe.store.segments import require_segment
from segpipe.timeutil import now


def stored_rules(conn: Connection, key: str) -> RuleNode:
    """A segment's stored rule tree; NotFound for an unknown key."""
    return parse_rules(require_segment(conn, key).rules, f"segment '{key}' rules")


def is_member(conn: Connection, external_id: str, segment_key: str, as_of: datetime | None = None) -> bool:
    """Whether the profile `external_id` matches segment `segment_key`'s rules as of `as_of` (default: now).

    Raises NotFound (exit code 2) for an unknown segment or an unknown profile: a typo in an id should not read
    as "not a member".
    """
    node = stored_rules(conn, segment_key)
    predicate = compile_predicate(node, as_of or now(), lambda key: stored_rules(conn, key))
    query = sa.select(predicate).where(t.profiles.c.external_id == external_id)
    verdict = conn.execute(query).scalar_one_or_none()
    if verdict is None:
        raise NotFound(f"unknown profile '{external_id}'")
    return bool(verdict)
