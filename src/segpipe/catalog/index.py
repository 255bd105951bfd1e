"""The rows of `/segments`: the index of `segment list` (same filters, search and sort), with each segment's
latest refresh, its change since the previous refresh and a sparkline of its member-count trend.

Two queries whatever the number of segments: the keys (`lifecycle.catalog.search_segments`), then the segments
with their latest `segment_refreshes` row (index `segment_refreshes (segment_id, id DESC)`) and the newest points
of their trend (index `segment_counts (segment_id, at)`). Neither events nor memberships are read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from segpipe.db import schema as t
from segpipe.errors import InvalidInput
from segpipe.lifecycle.catalog import DEFAULT_SORT, SORT_FIELDS, STATUS_FILTERS, search_segments
from segpipe.lifecycle.trend import sparkline

STATUSES = (*STATUS_FILTERS, "held")
"""The status filters of `segment list`, and `held`: not archived, and the latest refresh was held."""
PAGE_SORT_FIELDS = ("status", "change", "refresh", "refresh_status", "mode")
"""Sorted on the page: the status as shown (`held` and `archived` included), and the fields beyond `segment
list`'s: change since the previous refresh, time, status and mode of the latest refresh."""
SPARK_POINTS = 20
_s, _r, _c = t.segments, t.segment_refreshes, t.segment_counts


@dataclass(frozen=True)
class IndexRow:
    key: str
    name: str
    description: str | None
    status: str
    """active, inactive, archived or held (the latest refresh was held)."""
    member_count: int | None
    change: int | None
    """Member count of the latest trend point minus that of the one before (None with fewer than two)."""
    refresh: datetime | None
    """When the latest refresh row finished (or started, or None: never refreshed)."""
    refresh_status: str | None
    mode: str | None
    sparkline: str
    trend: tuple[int, ...]

    @property
    def trend_text(self) -> str:
        """The counts behind the sparkline (its tooltip), joined in Python: one escape per row, not one per count."""
        return ", ".join(map(str, self.trend))


def parse_sort(sort: str) -> tuple[str, bool]:
    """`field`, `+field`, `-field`, `field:asc` or `field:desc` → (field, descending)."""
    field, _, direction = sort.strip().partition(":")
    return field.lstrip("+-"), field.startswith("-") or direction.lower() == "desc"


def index_rows(
    conn: Connection, status: str = "active", search: str | None = None, sort: str = DEFAULT_SORT
) -> list[IndexRow]:
    """The index in `sort` order; an unknown status or sort field is InvalidInput (the page says so, 400)."""
    if status not in STATUSES:
        raise InvalidInput(f"unknown status '{status}' (one of {', '.join(STATUSES)})", "status")
    field, descending = parse_sort(sort)
    on_page = field in PAGE_SORT_FIELDS
    if not on_page and field not in SORT_FIELDS:
        fields = dict.fromkeys(SORT_FIELDS + PAGE_SORT_FIELDS)
        raise InvalidInput(f"unknown sort '{sort}' (one of {', '.join(fields)}; -FIELD or FIELD:desc descends)", "sort")
    keys = search_segments(conn, "all" if status == "held" else status, search, DEFAULT_SORT if on_page else sort)
    rows = _rows(conn, keys)
    if status == "held":
        rows = [row for row in rows if row.status == "held"]
    return sort_rows(rows, field, descending) if on_page else rows


def sort_rows(rows: Sequence[IndexRow], field: str, descending: bool) -> list[IndexRow]:
    """Stable sort by `field` as `segment list` sorts: missing values last either way, ties in key order."""
    present = [row for row in rows if getattr(row, field) is not None]
    missing = [row for row in rows if getattr(row, field) is None]
    present.sort(key=lambda row: getattr(row, field), reverse=descending)
    return present + missing


def _rows(conn: Connection, keys: list[str]) -> list[IndexRow]:
    """One query: each segment with its latest refresh row and its newest trend counts (an array, newest first)."""
    if not keys:
        return []
    latest = (
        sa.select(_r.c.status, _r.c.mode, sa.func.coalesce(_r.c.finished_at, _r.c.started_at).label("at"))
        .where(_r.c.segment_id == _s.c.id)
        .order_by(_r.c.id.desc())
        .limit(1)
        .lateral("latest")
    )
    query = (
        sa.select(_s.c.key, _s.c.name, _s.c.description, _s.c.status, _s.c.archived, _s.c.member_count)
        .add_columns(latest.c.status.label("refresh_status"), latest.c.mode, latest.c.at)
        .add_columns(newest_counts(_s.c.id, SPARK_POINTS).label("counts"))
        .outerjoin(latest, sa.true())
        .where(_s.c.key == sa.func.any(sa.literal(keys, sa.ARRAY(sa.Text))))
    )
    found = {row.key: row for row in conn.execute(query)}
    return [_index_row(found[key]) for key in keys if key in found]


def newest_counts(segment_id: sa.ColumnElement[int], last: int) -> sa.ColumnElement[list[int]]:
    """ARRAY(the member counts of the segment's `last` newest trend points, newest first): the points and order
    of `lifecycle.trend.member_count_trend`, read through the index segment_counts (segment_id, at)."""
    newest = (
        sa.select(_c.c.member_count)
        .where(_c.c.segment_id == segment_id)
        .order_by(_c.c.at.desc(), _c.c.member_count.desc())
        .limit(last)
    )
    return sa.func.array(newest.scalar_subquery())


def _index_row(row: Any) -> IndexRow:
    trend = tuple(reversed(row.counts))
    held = row.refresh_status == "held" and not row.archived
    status = "archived" if row.archived else "held" if held else row.status
    change = trend[-1] - trend[-2] if len(trend) >= 2 else None
    return IndexRow(
        key=row.key,
        name=row.name,
        description=row.description,
        status=status,
        member_count=row.member_count,
        change=change,
        refresh=row.at,
        refresh_status=row.refresh_status,
        mode=row.mode,
        sparkline=sparkline(trend),
        trend=trend,
    )
