"""Scheduled activation and deactivation of a segment at a given time.

`set_schedule` stores the times (segments.activate_at / deactivate_at); `apply_due_schedules(conn, now)` carries
out every schedule that is due, for the scheduled flows and at the start of `classify`. An activation counts as a
resume for the grace period of the inactivity classification, and the segment needs a refresh (it may have been
skipped while inactive): `keys_to_refresh` names them for the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from segpipe.db import schema as t
from segpipe.db.engine import xact_lock
from segpipe.errors import InvalidInput
from segpipe.lifecycle.status import effective_time, set_statuses
from segpipe.store.segments import log_event, require_segment

_s = t.segments
ACTIVATE, DEACTIVATE = "activate", "deactivate"
REASONS = {ACTIVATE: "scheduled activation", DEACTIVATE: "scheduled deactivation"}
_TARGET = {ACTIVATE: "active", DEACTIVATE: "inactive"}
_EVENT = {ACTIVATE: "activated", DEACTIVATE: "deactivated"}


@dataclass(frozen=True)
class Schedule:
    key: str
    activate_at: datetime | None
    deactivate_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "activate_at": self.activate_at, "deactivate_at": self.deactivate_at}


@dataclass(frozen=True)
class ScheduleChange:
    """One due schedule carried out: what it asked for and what it changed."""

    key: str
    action: str
    """activate or deactivate."""
    due_at: datetime
    old_status: str
    status: str

    @property
    def changed(self) -> bool:
        return self.old_status != self.status

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "action": self.action,
            "due_at": self.due_at,
            "old_status": self.old_status,
            "status": self.status,
            "changed": self.changed,
            "reason": REASONS[self.action],
        }


def set_schedule(
    conn: Connection,
    key: str,
    *,
    activate_at: datetime | None = None,
    deactivate_at: datetime | None = None,
    clear: bool = False,
    actor: str | None = None,
) -> Schedule:
    """Set (or with `clear`, remove) a segment's scheduled activation and/or deactivation; the caller commits.

    A time not given keeps the one already scheduled; both at the same instant are refused (exit 2).
    """
    if clear and (activate_at or deactivate_at):
        raise InvalidInput("--clear cannot be combined with --activate-at or --deactivate-at", where="schedule")
    if not clear and activate_at is None and deactivate_at is None:
        raise InvalidInput("give --activate-at TIME, --deactivate-at TIME or --clear", where="schedule")
    xact_lock(conn, "apply")
    segment = require_segment(conn, key)
    new_activate = None if clear else activate_at or segment.activate_at
    new_deactivate = None if clear else deactivate_at or segment.deactivate_at
    if new_activate is not None and new_activate == new_deactivate:
        raise InvalidInput("activation and deactivation cannot be scheduled at the same time", where="schedule")
    conn.execute(
        sa.update(_s).where(_s.c.id == segment.id).values(activate_at=new_activate, deactivate_at=new_deactivate)
    )
    detail = {"activate_at": _iso(new_activate), "deactivate_at": _iso(new_deactivate)}
    log_event(conn, segment.id, "schedule_cleared" if clear else "scheduled", actor=actor, detail=detail)
    return Schedule(key, new_activate, new_deactivate)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def apply_due_schedules(conn: Connection, now: datetime) -> list[ScheduleChange]:
    """Carry out every activation / deactivation due at `now`, oldest first; the caller owns the transaction.

    A due schedule is cleared once carried out. A status change is recorded with the reason `scheduled
    activation` / `scheduled deactivation`; an activation is also logged as a resume (grace period).
    """
    xact_lock(conn, "apply")
    due = _due(conn, now)
    changes: list[ScheduleChange] = []
    for segment_id, key, status, events in due:
        for due_at, action in events:
            conn.execute(sa.update(_s).where(_s.c.id == segment_id).values({f"{action}_at": None}))
            set_statuses(conn, [(key, _TARGET[action], REASONS[action])], now)
            at = effective_time(conn, segment_id, now)
            log_event(conn, segment_id, _EVENT[action], at=at, detail={"due_at": _iso(due_at)})
            changes.append(ScheduleChange(key, action, due_at, status, _TARGET[action]))
            status = _TARGET[action]
    return changes


def _due(conn: Connection, now: datetime) -> list[tuple[int, str, str, list[tuple[datetime, str]]]]:
    """(id, key, status, [(due time, action)...] in time order) of each segment with a due schedule."""
    at = sa.literal(now, t.TS)
    query = (
        sa.select(_s.c.id, _s.c.key, _s.c.status, _s.c.activate_at, _s.c.deactivate_at)
        .where(sa.or_(_s.c.activate_at <= at, _s.c.deactivate_at <= at))
        .order_by(sa.func.least(_s.c.activate_at, _s.c.deactivate_at), _s.c.key)
        .with_for_update()
    )
    found = []
    for row in conn.execute(query):
        events = [(row.activate_at, ACTIVATE), (row.deactivate_at, DEACTIVATE)]
        due = sorted((when, action) for when, action in events if when is not None and when <= now)
        found.append((row.id, row.key, row.status, due))
    return found


def keys_to_refresh(changes: list[ScheduleChange]) -> list[str]:
    """Segments that a scheduled activation made active: they need a refresh now."""
    final = {change.key: change for change in changes}
    return sorted(key for key, change in final.items() if change.status == "active" and _was_activated(changes, key))


def _was_activated(changes: list[ScheduleChange], key: str) -> bool:
    return any(c.key == key and c.action == ACTIVATE and c.changed for c in changes)
