"""The rows of `/segments`: the index of `segment list` (same filters, search and sort), with each segment's
latest refresh, its change since the previous refresh and a sparkline of its member-count trend.

Three queries whatever the number of segments: the keys (`lifecycle.catalog.search_segments`), the segments with
their latest `segment_refreshes` row (index `segment_refreshes (segment_id, id DESC)`), and the last points of
every trend (index `segment_counts (segment_id, at)`). Neither events nor memberships are read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by
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
        sa.select(_s.c.id, _s.c.key, _s.c.name, _s.c.description, _s.c.status, _s.c.archived, _s.c.member_count)
        .add_columns(latest.c.status.label("refresh_status"), latest.c.mode, latest.c.at)
        .outerjoin(latest, sa.true())
        .where(_s.c.key == sa.func.any(sa.literal(keys, sa.ARRAY(sa.Text))))
    )
    found = {row.key: row for row in conn.execute(query)}
    trends = recent_counts(conn, [row.id for row in found.values()], SPARK_POINTS)
    return [_index_row(found[key], trends.get(found[key].id, ())) for key in keys if key in found]


def _index_row(row: Any, trend: Sequence[int]) -> IndexRow:
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
        trend=tuple(trend),
    )


def recent_counts(conn: Connection, segment_ids: list[int], last: int) -> dict[int, tuple[int, ...]]:
    """segment id → the member counts of its `last` trend points, oldest first (the points and order of
    `lifecycle.trend.member_count_trend`, for many segments in one query: one row, one array, per segment)."""
    if not segment_ids:
        return {}
    ids = sa.select(sa.func.unnest(sa.literal(segment_ids, sa.ARRAY(sa.BigInteger))).label("id")).subquery("ids")
    points = (
        sa.select(_c.c.at, _c.c.member_count)
        .where(_c.c.segment_id == ids.c.id)
        .order_by(_c.c.at.desc(), _c.c.member_count.desc())
        .limit(last)
        .lateral("points")
    )
    counts = sa.func.array_agg(aggregate_order_by(points.c.member_count, points.c.at, points.c.member_count))
    query = sa.select(ids.c.id, counts).join(points, sa.true()).group_by(ids.c.id)
    return {segment_id: tuple(counts) for segment_id, counts in conn.execute(query)}
