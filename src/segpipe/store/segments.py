"""Reading segments and their references."""

from __future__ import annotations

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
