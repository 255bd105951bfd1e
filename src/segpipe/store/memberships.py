"""Segment membership: the stored member set of each segment, rewritten only by difference."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from segpipe.db import schema as t
from segpipe.db.ddl import CreateTableAs

# The freshly computed member set of the segment being refreshed: a temporary table, dropped at commit.
new_members = sa.Table("segpipe_new_members", sa.MetaData(), sa.Column("profile_id", sa.BigInteger))

_members = t.memberships


def members_of(segment_id: int) -> sa.Select[Any]:
    """The stored members of a segment as a one-column (`profile_id`) select."""
    return sa.select(_members.c.profile_id).where(_members.c.segment_id == segment_id)


def stage_new_members(conn: Connection, select: sa.SelectBase) -> int:
    """Materialize `select` (one column of profile ids) as the temp table `new_members`, analyzed; returns its size."""
    inner = select.subquery("computed")
    conn.execute(CreateTableAs(new_members, sa.select(next(iter(inner.c)).label("profile_id")), "temp"))
    conn.execute(sa.text(f"ANALYZE {conn.dialect.identifier_preparer.format_table(new_members)}"))
    return int(conn.execute(sa.select(sa.func.count()).select_from(new_members)).scalar_one())


def has_members(conn: Connection, segment_id: int) -> bool:
    return conn.execute(sa.select(sa.exists(members_of(segment_id)))).scalar_one()


def insert_members(conn: Connection, segment_id: int, select: sa.SelectBase) -> int:
    """Insert every profile of `select` as a member of a segment that has none; returns the count.

    A first refresh has nothing to diff against: straight into memberships in profile_id order, without the
    staging table, its count and the full join (BENCHMARKS.md "Refresh")."""
    inner = select.subquery("computed")
    rows = sa.select(sa.literal(segment_id, sa.BigInteger), next(iter(inner.c))).order_by(next(iter(inner.c)))
    inserted = sa.insert(_members).from_select(["segment_id", "profile_id"], rows).returning(sa.literal(1)).cte("added")
    return int(conn.execute(sa.select(sa.func.count()).select_from(inserted)).scalar_one())


def apply_new_members(conn: Connection, segment_id: int) -> tuple[int, int]:
    """Make the stored members equal to `new_members`: delete the gone, insert the new; returns (added, removed).

    One statement: a full join of the stored and the new members finds both differences in one pass (half the
    time of two anti-joins), then deletes and inserts only those. Unchanged members are not touched, so a
    refresh without changes writes no membership rows. New members are inserted in profile_id order: both
    indexes then fill page by page instead of at random (see BENCHMARKS.md "Refresh").
    """
    stored = members_of(segment_id).subquery("stored")
    new_id, old_id = new_members.c.profile_id.label("new_id"), stored.c.profile_id.label("old_id")
    joined = new_members.join(stored, stored.c.profile_id == new_members.c.profile_id, full=True)
    diff = (
        sa.select(new_id, old_id)
        .select_from(joined)
        .where(sa.or_(new_members.c.profile_id.is_(None), stored.c.profile_id.is_(None)))
        .cte("diff")
        .prefix_with("MATERIALIZED")
    )
    gone = sa.select(diff.c.old_id).where(diff.c.new_id.is_(None))
    removed = sa.delete(_members).where(_members.c.segment_id == segment_id, _members.c.profile_id.in_(gone))
    fresh = sa.select(sa.literal(segment_id, sa.BigInteger), diff.c.new_id).where(diff.c.old_id.is_(None))
    added = sa.insert(_members).from_select(["segment_id", "profile_id"], fresh.order_by(diff.c.new_id))
    counts = [statement.returning(sa.literal(1)).cte(name) for statement, name in ((added, "added"), (removed, "gone"))]
    row = conn.execute(sa.select(*(sa.select(sa.func.count()).select_from(c).scalar_subquery() for c in counts)))
    inserted, deleted = row.one()
    return int(inserted), int(deleted)


def member_count(conn: Connection, segment_id: int) -> int:
    query = sa.select(sa.func.count()).select_from(_members).where(_members.c.segment_id == segment_id)
    return int(conn.execute(query).scalar_one())


@dataclass(frozen=True)
class DependencyRow:
    id: int
    key: str
    last_refreshed_at: datetime | None


def dependencies_of(conn: Connection, segment_id: int) -> list[DependencyRow]:
    """The segments this one references directly, by key."""
    d, s = t.segment_dependencies, t.segments
    query = (
        sa.select(s.c.id, s.c.key, s.c.last_refreshed_at)
        .join(d, d.c.depends_on_id == s.c.id)
        .where(d.c.segment_id == segment_id)
        .order_by(s.c.key)
    )
    return [DependencyRow(*row) for row in conn.execute(query)]


def record_refreshed(conn: Connection, segment_id: int, count: int, as_of: datetime, data_version: int) -> None:
    """Stamp the segment as refreshed (as of `as_of`, having seen `data_version`) and add a trend point."""
    s = t.segments
    conn.execute(
        sa.update(s)
        .where(s.c.id == segment_id)
        .values(
            member_count=count,
            last_refreshed_at=sa.func.now(),
            last_refresh_as_of=as_of,
            refreshed_data_version=data_version,
        )
    )
    conn.execute(sa.insert(t.segment_counts).values(segment_id=segment_id, member_count=count, source="refresh"))
