"""Reading segments and their references."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from segpipe.db import schema as t
from segpipe.errors import NotFound


@dataclass(frozen=True)
class SegmentRow:
    id: int
    key: str
    name: str
    description: str | None
    rules: dict[str, Any]
    status: str
    archived: bool
    created_at: datetime
    updated_at: datetime
    definition_changed_at: datetime
    last_live_use_at: datetime | None
    status_changed_at: datetime
    status_reason: str | None
    member_count: int | None
    last_refreshed_at: datetime | None
    last_refresh_as_of: datetime | None
    refreshed_data_version: int | None
    activate_at: datetime | None
    deactivate_at: datetime | None
    max_drop: float | None = None
    """The largest share of members a refresh may remove while the segment is used live (None: the default)."""
    keep_active: bool = False
    """Exempt from automatic inactivation (YAML `keep_active: true`)."""


def _row_to_segment(row: sa.Row) -> SegmentRow:
    return SegmentRow(**row._mapping)


def get_segment(conn: Connection, key: str) -> SegmentRow | None:
    row = conn.execute(sa.select(t.segments).where(t.segments.c.key == key)).first()
    return _row_to_segment(row) if row else None


def require_segment(conn: Connection, key: str) -> SegmentRow:
    """The segment with this key, or NotFound (exit code 2)."""
    segment = get_segment(conn, key)
    if segment is None:
        raise NotFound(f"unknown segment '{key}'")
    return segment


def list_segments(conn: Connection) -> list[SegmentRow]:
    return [_row_to_segment(r) for r in conn.execute(sa.select(t.segments).order_by(t.segments.c.key))]


def dependency_keys(conn: Connection) -> dict[str, set[str]]:
    """Every segment key mapped to the keys of the segments its rules reference directly."""
    seg, dep = t.segments.alias("seg"), t.segments.alias("dep")
    graph: dict[str, set[str]] = {key: set() for key in conn.execute(sa.select(t.segments.c.key)).scalars()}
    query = (
        sa.select(seg.c.key, dep.c.key)
        .select_from(t.segment_dependencies)
        .join(seg, seg.c.id == t.segment_dependencies.c.segment_id)
        .join(dep, dep.c.id == t.segment_dependencies.c.depends_on_id)
    )
    for key, depends_on in conn.execute(query):
        graph[key].add(depends_on)
    return graph


# Writes used by `segpipe apply` ------------------------------------------------------------------------------


def segments_by_keys(conn: Connection, keys: Collection[str]) -> dict[str, SegmentRow]:
    query = sa.select(t.segments).where(t.segments.c.key.in_(list(keys)))
    return {row.key: _row_to_segment(row) for row in conn.execute(query)}


def segment_keys_by_name(conn: Connection, names: Collection[str]) -> dict[str, str]:
    """Each of `names` that a stored segment uses, mapped to that segment's key."""
    query = sa.select(t.segments.c.name, t.segments.c.key).where(t.segments.c.name.in_(list(names)))
    return {name: key for name, key in conn.execute(query)}


def insert_segment(conn: Connection, values: dict[str, Any], reason: str) -> int:
    """Create an active segment from key, name, description, rules; records the status change."""
    s = t.segments
    insert = sa.insert(s).values(**values, status="active", status_reason=reason).returning(s.c.id)
    segment_id = int(conn.execute(insert).scalar_one())
    conn.execute(
        sa.insert(t.segment_status_changes).values(
            segment_id=segment_id, old_status=None, new_status="active", reason=reason
        )
    )
    return segment_id


def update_segment_definition(conn: Connection, key: str, values: dict[str, Any], definition_changed: bool) -> None:
    """Set name, description, rules; `definition_changed` (the rules mean something else) bumps its time."""
    stamps: dict[str, Any] = {"updated_at": sa.func.now()}
    if definition_changed:
        stamps["definition_changed_at"] = sa.func.now()
    conn.execute(sa.update(t.segments).where(t.segments.c.key == key).values(**values, **stamps))


def set_segment_names(conn: Connection, names: dict[str, str]) -> None:
    """Rename segments (key → name) without touching anything else."""
    s = t.segments
    for key, name in names.items():
        conn.execute(sa.update(s).where(s.c.key == key).values(name=name))


def replace_segment_dependencies(conn: Connection, key: str, depends_on: Collection[str]) -> None:
    """Make the segment's direct references exactly the segments with keys `depends_on`."""
    d, seg, dep = t.segment_dependencies, t.segments.alias("seg"), t.segments.alias("dep")
    segment_id = sa.select(seg.c.id).where(seg.c.key == key).scalar_subquery()
    conn.execute(sa.delete(d).where(d.c.segment_id == segment_id))
    if depends_on:
        select = sa.select(seg.c.id, dep.c.id).join(dep, dep.c.key.in_(sorted(depends_on))).where(seg.c.key == key)
        conn.execute(sa.insert(d).from_select([d.c.segment_id, d.c.depends_on_id], select))


def record_live_use(conn: Connection, reasons: dict[str, str]) -> list[str]:
    """Mark segments (key → reason) as in live use now; activates inactive ones, recording why.

    Returns the keys whose status changed to active.
    """
    if not reasons:
        return []
    s, changes = t.segments, t.segment_status_changes
    inactive = conn.execute(sa.select(s.c.key).where(s.c.key.in_(list(reasons)), s.c.status != "active")).scalars()
    activated = sorted(inactive)
    conn.execute(sa.update(s).where(s.c.key.in_(list(reasons))).values(last_live_use_at=sa.func.now()))
    if not activated:
        return []
    wanted = sa.values(sa.column("key", sa.Text), sa.column("reason", sa.Text), name="wanted").data(
        [(key, reasons[key]) for key in activated]
    )
    changed = (
        sa.update(s)
        .where(s.c.key == wanted.c.key, s.c.status != "active")
        .values(status="active", status_changed_at=sa.func.now(), status_reason=wanted.c.reason)
        .returning(s.c.id, s.c.status_reason)
        .cte("changed")
    )
    select = sa.select(changed.c.id, sa.literal("inactive"), sa.literal("active"), changed.c.status_reason)
    conn.execute(sa.insert(changes).from_select(["segment_id", "old_status", "new_status", "reason"], select))
    return activated


def log_event(
    conn: Connection,
    segment_id: int,
    action: str,
    *,
    at: datetime | None = None,
    actor: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append to the segment's lifecycle log (segment_events)."""
    values: dict[str, Any] = {"segment_id": segment_id, "action": action, "actor": actor, "detail": detail or {}}
    if at is not None:
        values["at"] = at
    conn.execute(sa.insert(t.segment_events).values(**values))
