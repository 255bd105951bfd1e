"""Incremental refresh: evaluate a segment only for the profiles that can have changed, and apply that diff.

`plan_incremental` decides, inside the refresh's snapshot, whether the segment can be refreshed incrementally;
if so it stages the affected profiles (`refresh.changes`) in a temp table and returns its size, else the reason
for a full recompute. `affected_members` is the member query for the affected profiles only (point-mode
predicates: index lookups per affected profile), `apply_affected_members` writes the diff restricted to them,
and `save_state` records the snapshot, as_of and rules the stored members now answer to.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from segpipe.db import schema as t
from segpipe.db.ddl import CreateTableAs
from segpipe.refresh import changes
from segpipe.rules import compile_predicate, parse_rules
from segpipe.rules.compile import Resolver
from segpipe.store.segments import SegmentRow

MAX_AFFECTED_SHARE = 0.04
"""Above this share of all profiles, a full recompute is cheaper (BENCHMARKS.md "Refresh", break-even)."""
ANALYZE_ABOVE = 10_000
"""Affected sets larger than this are analyzed before the evaluation is planned (smaller ones: nested loops)."""
MIN_FALLBACK = 1_000
"""At or below this many affected profiles a refresh stays incremental whatever the share (either is cheap)."""

affected = sa.Table("segpipe_affected", sa.MetaData(), sa.Column("profile_id", sa.BigInteger))
"""The profiles the current incremental refresh evaluates: a temporary table, dropped at commit."""


@dataclass(frozen=True)
class Scope:
    """An incremental refresh: the member query covers only the staged affected profiles."""

    evaluated: int


def _usable_states(as_of: datetime) -> sa.Select[Any]:
    """Segment ids whose stored state can serve an incremental refresh at `as_of`, as far as the segment row
    tells (`plan_incremental` checks the rest in the refresh's snapshot)."""
    s, seg = t.incremental_state, t.segments
    return (
        sa.select(s.c.segment_id)
        .join(seg, seg.c.id == s.c.segment_id)
        .where(
            s.c.rules == seg.c.rules, s.c.refreshed_at == seg.c.last_refreshed_at, s.c.as_of <= sa.literal(as_of, t.TS)
        )
    )


def has_state(conn: Connection, key: str, as_of: datetime) -> bool:
    """Whether the segment is likely refreshed incrementally (then the run's shared scans are not built for it)."""
    usable = _usable_states(as_of).where(t.segments.c.key == key)
    return bool(conn.execute(sa.select(sa.exists(usable))).scalar_one())


def incremental_ids(conn: Connection, segment_ids: list[int], as_of: datetime) -> set[int]:
    """Which of these segments are likely refreshed incrementally at `as_of`."""
    query = _usable_states(as_of).where(t.incremental_state.c.segment_id.in_(segment_ids))
    return set(conn.execute(query).scalars())


def unseen_changes(conn: Connection, segment_id: int) -> str | None:
    """ "data changed" when the change log holds a write the segment's last refresh did not see (a write that
    did not bump the data version, e.g. an edit in psql); None otherwise or without a state."""
    found = conn.execute(changes.any_change_since(segment_id)).scalar_one()
    return "data changed" if found else None


def drop_state(conn: Connection, segment_id: int) -> None:
    """Forget the state: members computed another way (a custom member query) are not the rules' answer."""
    conn.execute(sa.delete(t.incremental_state).where(t.incremental_state.c.segment_id == segment_id))


def plan_incremental(conn: Connection, segment: SegmentRow, as_of: datetime) -> Scope | str:
    """Stage the affected profiles and return their count, or the reason to recompute in full."""
    reason = _state_reason(conn, segment, as_of)
    if reason is not None:
        return reason
    node = parse_rules(segment.rules)
    reach = changes.rule_reach(node)
    old: datetime = segment.last_refresh_as_of  # type: ignore[assignment]  # checked by _state_reason
    if reach.as_of_in_where and as_of != old:
        return "an event filter is relative to as_of"
    referenced = _segment_ids(conn, reach.segments)
    if referenced and conn.execute(changes.bulk_member_changes_since(segment.id, referenced)).scalar_one():
        return "a referenced segment changed in bulk"
    parts = changes.changed_profiles(segment.id, reach, referenced) + changes.boundary_crossers(reach, old, as_of)
    union = sa.union(*parts) if len(parts) > 1 else parts[0]
    staged = conn.execute(CreateTableAs(affected, union, "temp"), execution_options={"preserve_rowcount": True})
    count = staged.rowcount
    if count > ANALYZE_ABOVE:
        conn.execute(sa.text(f"ANALYZE {conn.dialect.identifier_preparer.format_table(affected)}"))
    if _too_many(conn, count):
        conn.execute(sa.text(f"DROP TABLE {conn.dialect.identifier_preparer.format_table(affected)}"))
        return f"{count} affected profiles: above the break-even"
    return Scope(evaluated=count)


def _state_reason(conn: Connection, segment: SegmentRow, as_of: datetime) -> str | None:
    s, h = t.incremental_state, t.change_log_horizon
    covered = sa.func.pg_snapshot_xmin(s.c.snapshot) >= sa.select(h.c.below).scalar_subquery()
    reset = changes.reset_since(segment.id).scalar_subquery()
    query = sa.select(s.c.as_of, s.c.rules, s.c.refreshed_at, covered.label("covered"), reset.label("reset")).where(
        s.c.segment_id == segment.id
    )
    state = conn.execute(query).first()
    if state is None or segment.last_refresh_as_of is None:
        return "no incremental state"
    if state.rules != segment.rules:
        return "definition changed"
    if state.refreshed_at != segment.last_refreshed_at or state.as_of != segment.last_refresh_as_of:
        return "members were written by another path"
    if as_of < state.as_of:
        return "as_of earlier than the last refresh"
    if not state.covered:
        return "the change log was pruned past the last refresh"
    if state.reset:
        return "customer data was truncated"
    return None


def _segment_ids(conn: Connection, keys: set[str]) -> list[int]:
    if not keys:
        return []
    return list(conn.execute(sa.select(t.segments.c.id).where(t.segments.c.key.in_(sorted(keys)))).scalars())


def _too_many(conn: Connection, count: int) -> bool:
    """Whether `count` exceeds MAX_AFFECTED_SHARE of the profiles; counts at most count / share of them."""
    if count <= MIN_FALLBACK:
        return False
    cap = math.ceil(count / MAX_AFFECTED_SHARE)
    limited = sa.select(sa.literal(1)).select_from(t.profiles).limit(cap).subquery()
    return int(conn.execute(sa.select(sa.func.count()).select_from(limited)).scalar_one()) < cap


def affected_members(segment: SegmentRow, as_of: datetime, resolve_segment: Resolver) -> sa.Select[Any]:
    """The members among the staged affected profiles (one column, `profile_id`)."""
    predicate = compile_predicate(parse_rules(segment.rules), as_of, resolve_segment)
    p = t.profiles
    return (
        sa.select(p.c.id.label("profile_id"))
        .select_from(affected.join(p, p.c.id == affected.c.profile_id))
        .where(predicate)
    )


def apply_affected_members(conn: Connection, segment_id: int, query: sa.Select[Any]) -> tuple[int, int, int]:
    """Bring the stored members among the affected profiles in line with `query`; returns (count, added,
    removed). Members outside the affected set are not touched; the count moves by the difference."""
    m = t.memberships
    new = query.cte("new").prefix_with("MATERIALIZED")
    mine: ColumnElement[bool] = m.c.segment_id == segment_id
    gone_ids = sa.select(affected.c.profile_id).where(affected.c.profile_id.not_in(sa.select(new.c.profile_id)))
    gone = sa.delete(m).where(mine, m.c.profile_id.in_(gone_ids)).returning(sa.literal(1)).cte("gone")
    stored = sa.exists().where(mine, m.c.profile_id == new.c.profile_id)
    fresh = sa.select(sa.literal(segment_id, sa.BigInteger), new.c.profile_id).where(~stored).order_by(new.c.profile_id)
    added = sa.insert(m).from_select(["segment_id", "profile_id"], fresh).returning(sa.literal(1)).cte("added")
    counts = [sa.select(sa.func.count()).select_from(c).scalar_subquery() for c in (added, gone)]
    before = sa.select(t.segments.c.member_count).where(t.segments.c.id == segment_id).scalar_subquery()
    inserted, deleted, stored = conn.execute(sa.select(*counts, before)).one()
    return int(stored or 0) + int(inserted) - int(deleted), int(inserted), int(deleted)


def save_state(conn: Connection, segment_id: int, as_of: datetime) -> None:
    """Record, in the refresh's transaction, what the stored members now answer to: this snapshot, as_of and the
    segment's rules (copied from its row, so a later definition change is seen)."""
    from sqlalchemy.dialects.postgresql import insert

    s, seg = t.incremental_state, t.segments
    source = sa.select(
        seg.c.id, sa.func.pg_current_snapshot(), sa.literal(as_of, t.TS), seg.c.rules, seg.c.last_refreshed_at
    ).where(seg.c.id == segment_id)
    statement = insert(s).from_select(["segment_id", "snapshot", "as_of", "rules", "refreshed_at"], source)
    excluded = statement.excluded
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[s.c.segment_id],
            set_={c: excluded[c] for c in ("snapshot", "as_of", "rules", "refreshed_at")},
        )
    )


_PROFILE_COUNTS: dict[tuple[str, int, int], int] = {}


def evaluated_profiles(conn: Connection, refresh_id: int, version: int) -> int:
    """How many profiles a full recompute evaluates (all of them): counted once per run and data version (a
    count of 1M profiles takes 40-130 ms; a run of 100 full recomputes would pay it 100 times)."""
    r = t.segment_refreshes
    run_id = conn.execute(sa.select(r.c.run_id).where(r.c.id == refresh_id)).scalar_one()
    key = (conn.engine.url.render_as_string(), int(run_id), version)
    if key not in _PROFILE_COUNTS:
        if len(_PROFILE_COUNTS) > 64:
            _PROFILE_COUNTS.clear()
        _PROFILE_COUNTS[key] = int(conn.execute(sa.select(sa.func.count()).select_from(t.profiles)).scalar_one())
    return _PROFILE_COUNTS[key]
