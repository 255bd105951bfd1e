"""The inactivity classification (contract §5): which segments stay active and which become inactive.

A segment in live use (see `usage`) is active, and its `last_live_use_at` moves to the classification time. A
segment with no live use becomes inactive when its latest sign of life (creation, definition change, live use,
resume or scheduled activation) is older than the grace period: strictly older, so a segment exactly 14 days old
stays active under the default grace. A segment marked `keep_active` (YAML) is never made inactive here (an
operator may still `deactivate` it). Any other segment keeps its status. Every change is recorded with the
rule that made it and when.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from segpipe.db import schema as t
from segpipe.db.engine import xact_lock
from segpipe.defaults import DEFAULT_GRACE
from segpipe.errors import InvalidInput
from segpipe.lifecycle.schedule import ScheduleChange, apply_due_schedules, keys_to_refresh
from segpipe.lifecycle.status import set_statuses
from segpipe.lifecycle.usage import load_usage
from segpipe.store.segments import SegmentRow

RESUME_ACTIONS = ("resumed", "activated")
KEEP_ACTIVE_REASON = "keep_active: exempt from automatic inactivation"
_s = t.segments


@dataclass(frozen=True)
class Classification:
    key: str
    old_status: str
    status: str
    reason: str
    """Why the segment has `status` (the recorded reason when it changed)."""
    live: bool
    last_activity: datetime
    """The latest of creation, definition change, live use and resume."""
    last_activity_kind: str

    @property
    def changed(self) -> bool:
        return self.old_status != self.status

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "old_status": self.old_status,
            "status": self.status,
            "changed": self.changed,
            "live": self.live,
            "reason": self.reason,
            "last_activity": self.last_activity,
            "last_activity_kind": self.last_activity_kind,
        }


@dataclass(frozen=True)
class ClassifyResult:
    as_of: datetime
    grace: timedelta
    segments: list[Classification]
    schedules: list[ScheduleChange] = field(default_factory=list)

    @property
    def changes(self) -> list[Classification]:
        return [c for c in self.segments if c.changed]

    @property
    def refresh_keys(self) -> list[str]:
        """Segments a scheduled activation made active and that classify left active: refresh them now."""
        active = {c.key for c in self.segments if c.status == "active"}
        return [key for key in keys_to_refresh(self.schedules) if key in active]


def classify(conn: Connection, as_of: datetime | None = None, grace: timedelta = DEFAULT_GRACE) -> ClassifyResult:
    """Carry out due schedules, then classify every segment as of `as_of` (default: now); the caller commits.

    Serialized with `apply` (which also activates segments) by the apply lock.
    """
    if grace < timedelta(0):
        raise InvalidInput("the grace period cannot be negative", where="--grace")
    xact_lock(conn, "apply")
    when = _utc(as_of) if as_of is not None else conn.execute(sa.select(sa.func.now())).scalar_one()
    if when - datetime.min.replace(tzinfo=UTC) < grace:
        raise InvalidInput(f"{format_grace(grace)} before {_iso(when)} is before year 1", where="--grace")
    before: dict[str, str] = {row.key: row.status for row in conn.execute(sa.select(_s.c.key, _s.c.status))}
    schedules = apply_due_schedules(conn, when)
    index = load_usage(conn, source="classify")
    resumed = _last_resumes(conn)
    decisions = {
        key: _decide(segment, index.live_reasons.get(key), resumed.get(segment.id), when, grace)
        for key, segment in sorted(index.segments.items())
    }
    _mark_live_use(conn, list(index.live_reasons), when)
    writes = [(key, d.status, d.reason) for key, d in decisions.items() if d.status != index.segments[key].status]
    set_statuses(conn, writes, when)
    results = [replace(d, old_status=before.get(key, d.old_status)) for key, d in decisions.items()]
    return ClassifyResult(when, grace, results, schedules)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _last_resumes(conn: Connection) -> dict[int, datetime]:
    ev = t.segment_events
    query = (
        sa.select(ev.c.segment_id, sa.func.max(ev.c.at))
        .where(ev.c.action.in_(RESUME_ACTIONS))
        .group_by(ev.c.segment_id)
    )
    return {segment_id: at for segment_id, at in conn.execute(query)}


def last_activity(segment: SegmentRow, resumed_at: datetime | None) -> tuple[str, datetime]:
    """(what, when) of the segment's latest sign of life; on a tie the first of this order wins."""
    candidates = [
        ("creation", segment.created_at),
        ("definition change", segment.definition_changed_at),
        ("live use", segment.last_live_use_at),
        ("resume", resumed_at),
    ]
    return max(((kind, when) for kind, when in candidates if when is not None), key=lambda item: item[1])


def _decide(
    segment: SegmentRow, live_reason: str | None, resumed_at: datetime | None, as_of: datetime, grace: timedelta
) -> Classification:
    kind, when = last_activity(segment, resumed_at)
    if live_reason is not None:
        status, reason = "active", live_reason
    elif segment.keep_active:
        status = segment.status
        reason = segment.status_reason or ""
        if status == "active":
            reason = KEEP_ACTIVE_REASON
    elif when < as_of - grace:
        status = "inactive"
        reason = (
            f"no live use for more than {format_grace(grace)} (last {kind} {_iso(when)}; classify as of {_iso(as_of)})"
        )
    else:
        status = segment.status
        reason = segment.status_reason or ""
        if status == "active":
            reason += ("; " if reason else "") + f"no live use, within the grace period until {_grace_end(when, grace)}"
    return Classification(segment.key, segment.status, status, reason, live_reason is not None, when, kind)


def format_grace(grace: timedelta) -> str:
    days = grace / timedelta(days=1)
    return f"{days:g} day" + ("" if days == 1 else "s")


def _grace_end(when: datetime, grace: timedelta) -> str:
    return _iso(when + grace) if datetime.max.replace(tzinfo=UTC) - when > grace else "the end of time"


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _mark_live_use(conn: Connection, keys: list[str], as_of: datetime) -> None:
    if keys:
        at = sa.literal(as_of, t.TS)
        conn.execute(
            sa.update(_s).where(_s.c.key.in_(keys)).values(last_live_use_at=sa.func.greatest(_s.c.last_live_use_at, at))
        )
