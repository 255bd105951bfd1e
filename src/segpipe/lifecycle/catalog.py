"""The segment index (`segment list`) and one segment's full description (`segment show`), as JSON-ready dicts.

List filters are folders: `active` (the default) and `inactive` hold the segments that are not archived, by
status; `archived` holds the archived ones whatever their status; `all` holds everything.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from segpipe.db import schema as t
from segpipe.defaults import DEFAULT_SORT, SORT_FIELDS
from segpipe.errors import InvalidInput
from segpipe.lifecycle.classify import RESUME_ACTIONS, last_activity
from segpipe.lifecycle.trend import member_count_trend, sparkline
from segpipe.lifecycle.usage import UsageIndex, load_usage
from segpipe.refresh.locks import refresh_in_progress
from segpipe.store import runs
from segpipe.store.segments import SegmentRow, require_segment

STATUS_FILTERS = ("active", "inactive", "archived", "all")
SHOW_TREND_POINTS = 30
SHOW_MEMBERS = 10
_s = t.segments


def _status_filter(status: str) -> sa.ColumnElement[bool]:
    if status == "all":
        return sa.true()
    if status == "archived":
        return _s.c.archived
    return sa.and_(_s.c.status == status, sa.not_(_s.c.archived))


def _search_filter(text: str) -> sa.ColumnElement[bool]:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    columns = (_s.c.key, _s.c.name, sa.func.coalesce(_s.c.description, ""))
    return sa.or_(*(column.ilike(pattern, escape="\\") for column in columns))


def _ordering(sort: str) -> list[sa.ColumnElement[Any]]:
    """`field` (or `field:asc`) ascending, `-field` (or `field:desc`) descending; NULLs last; ties broken by key."""
    field, _, direction = sort.strip().partition(":")
    descending = field.startswith("-") or direction.lower() == "desc"
    name = field.lstrip("+-")
    if name not in SORT_FIELDS or direction.lower() not in ("", "asc", "desc"):
        fields = ", ".join(SORT_FIELDS)
        raise InvalidInput(f"unknown sort {sort!r} (one of {fields}; -FIELD or FIELD:desc descends)", "--sort")
    column: sa.ColumnElement[Any] = _s.c[name]
    if name in ("key", "name", "status"):
        column = column.collate("C")
    primary = (column.desc() if descending else column.asc()).nulls_last()
    return [primary, _s.c.key.collate("C").asc()]


def search_segments(
    conn: Connection, status: str = "active", search: str | None = None, sort: str = DEFAULT_SORT
) -> list[str]:
    """The keys of the segments in folder `status` matching `search` (case-insensitive, in key, name and
    description; `%` and `_` literal), in `sort` order."""
    if status not in STATUS_FILTERS:
        raise InvalidInput(f"unknown status '{status}' (one of {', '.join(STATUS_FILTERS)})", "--status")
    query = sa.select(_s.c.key).where(_status_filter(status)).order_by(*_ordering(sort))
    if search:
        query = query.where(_search_filter(search))
    return list(conn.execute(query).scalars())


def summary(segment: SegmentRow, index: UsageIndex) -> dict[str, Any]:
    """The fields of a segment in `segment list` (and the start of `segment show`)."""
    return {
        "key": segment.key,
        "name": segment.name,
        "description": segment.description,
        "status": segment.status,
        "archived": segment.archived,
        "member_count": segment.member_count,
        "last_refreshed_at": segment.last_refreshed_at,
        "created_at": segment.created_at,
        "updated_at": segment.updated_at,
        "status_reason": segment.status_reason,
        "status_changed_at": segment.status_changed_at,
        "keep_active": segment.keep_active,
        "live": segment.key in index.live_reasons,
        "usage": [use.to_json() for use in index.uses_of(segment.key)],
    }


def list_index(
    conn: Connection, status: str = "active", search: str | None = None, sort: str = DEFAULT_SORT
) -> list[dict[str, Any]]:
    keys = search_segments(conn, status, search, sort)
    index = load_usage(conn)
    return [summary(index.segments[key], index) for key in keys if key in index.segments]


def describe_segment(conn: Connection, key: str) -> dict[str, Any]:
    """Everything `segment show` prints: definition, status and its history, members, last refresh, usage,
    referenced segments, trend, schedule and lifecycle log."""
    segment = require_segment(conn, key)
    index = load_usage(conn)
    points = member_count_trend(conn, segment.id, last=SHOW_TREND_POINTS)
    data = summary(segment, index)
    data.update(
        rules=segment.rules,
        definition_changed_at=segment.definition_changed_at,
        last_live_use_at=segment.last_live_use_at,
        live_reason=index.live_reasons.get(key),
        references=sorted(index.graph.get(key, ())),
        last_refresh=_last_refresh(conn, segment),
        refresh_running=refresh_in_progress(conn, key),
        members=_member_preview(conn, segment.id),
        trend={"points": [p.to_json() for p in points], "sparkline": sparkline([p.member_count for p in points])},
        history=_status_history(conn, segment.id),
        schedule={"activate_at": segment.activate_at, "deactivate_at": segment.deactivate_at},
        events=_events(conn, segment.id),
    )
    resumed = max((e["at"] for e in data["events"] if e["action"] in RESUME_ACTIONS), default=None)
    kind, when = last_activity(segment, resumed)
    data.update(last_resumed_at=resumed, last_activity={"kind": kind, "at": when})
    return data


def _member_preview(conn: Connection, segment_id: int) -> list[str]:
    """The external ids of the first stored members (by internal id: an index range scan, cheap at any size)."""
    m, p = t.memberships, t.profiles
    ordered = sa.select(m.c.profile_id).where(m.c.segment_id == segment_id).order_by(m.c.profile_id)
    first = ordered.limit(SHOW_MEMBERS).subquery()
    query = sa.select(p.c.external_id).join(first, first.c.profile_id == p.c.id).order_by(p.c.id)
    return list(conn.execute(query).scalars())


def _last_refresh(conn: Connection, segment: SegmentRow) -> dict[str, Any] | None:
    row = runs.latest_segment_refresh(conn, segment.id)
    if row is None:
        return None
    as_of = conn.execute(sa.select(t.refresh_runs.c.as_of).where(t.refresh_runs.c.id == row.run_id)).scalar_one()
    return {
        "run_id": row.run_id,
        "status": row.status,
        "as_of": as_of,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "duration_ms": row.duration_ms,
        "member_count": row.member_count,
        "added": row.added,
        "removed": row.removed,
        "reason": row.reason,
        "error": row.error,
    }


def _status_history(conn: Connection, segment_id: int) -> list[dict[str, Any]]:
    c = t.segment_status_changes
    query = sa.select(c.c.at, c.c.old_status, c.c.new_status, c.c.reason).where(c.c.segment_id == segment_id)
    return [
        {"at": at, "old_status": old, "status": new, "reason": reason}
        for at, old, new, reason in conn.execute(query.order_by(c.c.id))
    ]


def _events(conn: Connection, segment_id: int) -> list[dict[str, Any]]:
    e = t.segment_events
    query = sa.select(e.c.at, e.c.action, e.c.actor, e.c.detail).where(e.c.segment_id == segment_id)
    return [
        {"at": at, "action": action, "actor": actor, "detail": detail}
        for at, action, actor, detail in conn.execute(query.order_by(e.c.id))
    ]
