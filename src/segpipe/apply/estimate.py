"""A dry run's member counts: how many members each created or changed segment would have now, stored nothing.

Each count is exact: the segment's new rules compiled as a refresh compiles them (set mode) and counted as of
the database's `now()`. A referenced segment is evaluated from its rules as this run leaves them (inlined), which
is what a refresh now would compute for it first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from segpipe.apply.plan import ApplyPlan
from segpipe.rules import RuleNode, compile_members, parse_rules
from segpipe.store.segments import require_segment, segments_by_keys


def estimate_members(conn: Connection, plan: ApplyPlan) -> None:
    """Set `members` on each created segment and each update whose rules change: `{as_of, count, stored,
    change}` (`stored`: the count of its last refresh, None when never refreshed or new)."""
    wanted = [write for write in plan.segments if write.created or write.rules_changed]
    if not wanted:
        return
    as_of: datetime = conn.execute(sa.select(sa.func.now())).scalar_one()
    new_rules = {write.key: write.values["rules"] for write in plan.segments}
    stored = segments_by_keys(conn, [write.key for write in wanted])
    objects = {(obj.kind, obj.key): obj for obj in plan.objects}

    def rules_of(key: str) -> RuleNode:
        rules = new_rules[key] if key in new_rules else require_segment(conn, key).rules
        return parse_rules(rules, f"segment '{key}' rules")

    for write in wanted:
        count = _count(conn, compile_members(rules_of(write.key), as_of, rules_of, mode="set"))
        before = stored[write.key].member_count if write.key in stored else None
        change = count - before if before is not None else None
        objects[("Segment", write.key)].members = {"as_of": as_of, "count": count, "stored": before, "change": change}


def _count(conn: Connection, query: sa.Select[Any]) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one())
