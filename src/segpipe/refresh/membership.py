"""Refresh one segment: under its lock, in one snapshot, compute the member set and write it by difference."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from segpipe.db.driver_errors import describe_driver_error
from segpipe.db.engine import BULK_SETTINGS, set_local
from segpipe.errors import InvalidInput, SegpipeError, is_transient
from segpipe.refresh import feature_tables, incremental
from segpipe.refresh.guard import DropCounts, RefreshGate, RefreshHeld, staged_counts
from segpipe.refresh.locks import segment_lock
from segpipe.refresh.shared import segment_features
from segpipe.refresh.stale import DependencyState, stale_reason
from segpipe.rules import parse_rules
from segpipe.rules.features import EventFeature
from segpipe.store import memberships, runs
from segpipe.store.segments import SegmentRow, get_segment, require_segment

Resolver = Callable[[str], sa.Select[Any]]

# Per-transaction planner settings for the member computation (see BENCHMARKS.md, "Refresh").


@dataclass(frozen=True)
class SegmentRefreshResult:
    key: str
    status: str
    member_count: int | None = None
    added: int | None = None
    removed: int | None = None
    duration_ms: float | None = None
    error: str | None = None
    reason: str | None = None
    mode: str | None = None
    """`incremental` or `full` when members were computed (None: not computed)."""
    evaluated: int | None = None
    """Profiles evaluated: the affected set (incremental) or every profile (full)."""


def compile_segment(
    segment: SegmentRow,
    as_of: datetime,
    resolve_segment: Resolver,
    shared: Mapping[EventFeature, sa.Column[Any]] | None = None,
) -> sa.Select[Any]:
    """The rules compiler's member query for a stored segment: a select of one column, `profile_id`; `shared`:
    event features read from the run's shared scans (`feature_tables.shared_columns`)."""
    from segpipe.rules import compile_members, parse_rules

    return compile_members(parse_rules(segment.rules), as_of, resolve_segment, mode="set", shared=shared)


def refresh_segment(
    engine: Engine,
    run_id: int,
    key: str,
    as_of: datetime,
    *,
    force: bool = False,
    raise_transient: bool = False,
    accept_drop: bool = False,
) -> SegmentRefreshResult:
    """Refresh one segment of a run; its dependencies must have been refreshed earlier in the run.

    Waits for the segment's refresh lock. A segment whose dependency failed in this run is skipped; one that
    is up to date (same as_of, data version and definition, no dependency refreshed since) is not recomputed
    unless `force`. Any error in the computation is recorded as `failed` and returned, not raised; with
    `raise_transient` a transient database error is raised after recording, so an orchestrator can retry.
    A refresh the count gate holds is returned `held` (see `guard`); `accept_drop` publishes it.
    """
    with engine.connect() as conn:
        conn.execution_options(isolation_level="REPEATABLE READ")
        with segment_lock(conn, key):
            refresh_id, blocked = _prepare(conn, run_id, key)
            if blocked is not None:
                return blocked
            try:
                return _evaluate(conn, run_id, key, as_of, refresh_id, force, accept_drop)
            except Exception as exc:
                result = _record_failure(engine, conn, key, refresh_id, exc)
                if raise_transient and is_transient(exc):
                    raise
                return result
            except BaseException:
                _record_failure(engine, conn, key, refresh_id, None)
                raise


def _prepare(conn: Connection, run_id: int, key: str) -> tuple[int, SegmentRefreshResult | None]:
    """Find or create the segment's row in the run; mark it running, or skipped when a dependency failed."""
    segment = get_segment(conn, key)
    if segment is None:
        return 0, SegmentRefreshResult(key, "skipped", reason="segment deleted")
    refresh_id = runs.ensure_segment_refresh(conn, run_id, segment.id)
    reason = _blocking_reason(conn, run_id, segment.id)
    if reason is not None:
        duration = runs.record_outcome(conn, refresh_id, "skipped", reason=reason)
        conn.commit()
        return refresh_id, SegmentRefreshResult(key, "skipped", duration_ms=duration, reason=reason)
    runs.mark_running(conn, refresh_id)
    conn.commit()
    return refresh_id, None


def _blocking_reason(conn: Connection, run_id: int, segment_id: int) -> str | None:
    deps = memberships.dependencies_of(conn, segment_id)
    states = runs.run_statuses(conn, run_id, [dep.id for dep in deps])
    for dep in deps:
        row = states.get(dep.id)
        if row is None:
            continue
        if row.status in ("failed", "cancelled"):
            return f"dependency {dep.key} {row.status}"
        if row.status == "held":
            return "dependency held"
        if row.status == "skipped" and (row.reason or "").startswith("dependency "):
            return row.reason
    return None


def _evaluate(
    conn: Connection,
    run_id: int,
    key: str,
    as_of: datetime,
    refresh_id: int,
    force: bool,
    accept_drop: bool = False,
) -> SegmentRefreshResult:
    """Inside one REPEATABLE READ transaction: decide staleness, compute, write the diff, record; commit.

    Incremental (`refresh.incremental`) unless forced or without a usable incremental state; a full recompute
    first builds the run's shared scans this segment reads (`feature_tables`)."""
    candidate = not force and incremental.has_state(conn, key, as_of)
    shared = _shared_features(conn, run_id, key, as_of, force) if not candidate else set()
    version = runs.data_version(conn)
    segment = require_segment(conn, key)
    reason = _stale_reason(conn, segment, as_of, version, force)
    if reason is None:
        fields: dict[str, Any] = {
            "member_count": segment.member_count,
            "added": 0,
            "removed": 0,
            "reason": "up to date",
        }
        duration = runs.record_outcome(conn, refresh_id, "succeeded", **fields)
        conn.commit()
        return SegmentRefreshResult(key, "succeeded", duration_ms=duration, **fields)
    set_local(conn, BULK_SETTINGS)
    scope = incremental.plan_incremental(conn, segment, as_of) if candidate else None
    if isinstance(scope, incremental.Scope):
        query = incremental.affected_members(segment, as_of, members_resolver(conn))
    else:
        columns = feature_tables.shared_columns(conn, run_id, shared, version) if shared else None
        query = compile_segment(segment, as_of, members_resolver(conn), columns)
    scoped = scope if isinstance(scope, incremental.Scope) else None
    if isinstance(scope, str):
        reason = f"{reason}; full recompute: {scope}"
    try:
        fields, duration = store_members(
            conn, segment.id, query, as_of, version, refresh_id, reason, accept_drop, scope=scoped
        )
    except RefreshHeld as held:
        conn.commit()  # the held row and event, nothing else
        return SegmentRefreshResult(key, "held", duration_ms=held.duration_ms, reason=held.reason, **held.fields)
    incremental.save_state(conn, segment.id, as_of)
    conn.commit()
    return SegmentRefreshResult(key, "succeeded", duration_ms=duration, **fields)


def store_members(
    conn: Connection,
    segment_id: int,
    query: sa.Select[Any],
    as_of: datetime,
    version: int,
    refresh_id: int,
    reason: str,
    accept_drop: bool = False,
    *,
    scope: incremental.Scope | None = None,
) -> tuple[dict[str, Any], float | None]:
    """Compute the members and write the difference to the stored ones (all of them when there are none yet),
    record the refresh as succeeded, in the caller's transaction; returns the recorded fields and the duration
    in ms. With `scope` (an incremental refresh) `query` covers only the affected profiles and the difference
    is limited to them.

    The refresh gates (`guard`) run here, where every computed member set is written, full or incremental: a
    rewind the run was not started to make is refused, and a diff removing too much of a live audience is held
    (RefreshHeld, after recording it) instead of applied.
    """
    gate = RefreshGate.load(conn, segment_id, refresh_id, as_of, accept_drop)
    if scope is not None:
        mode, evaluated = "incremental", scope.evaluated
        count, added, removed = _apply_incremental(conn, segment_id, query, gate)
    else:
        mode, evaluated = "full", incremental.evaluated_profiles(conn, refresh_id, version)
        if memberships.has_members(conn, segment_id):
            count = memberships.stage_new_members(conn, query)
            gate.check_drop(conn, staged_counts(conn, segment_id, count))
            added, removed = memberships.apply_new_members(conn, segment_id)
        else:
            count = added = memberships.insert_members(conn, segment_id, query)
            removed = 0
    gate.record_written(conn)
    memberships.record_refreshed(conn, segment_id, count, as_of, version)
    fields: dict[str, Any] = {"member_count": count, "added": added, "removed": removed, "reason": reason}
    fields |= {"mode": mode, "evaluated": evaluated}
    return fields, runs.record_outcome(conn, refresh_id, "succeeded", **fields)


def _apply_incremental(
    conn: Connection, segment_id: int, query: sa.Select[Any], gate: RefreshGate
) -> tuple[int, int, int]:
    """Apply an incremental diff in a savepoint; the counts are known only once applied, so a diff the count gate
    holds is rolled back before the hold is recorded (stored members unchanged)."""
    savepoint = conn.begin_nested()
    count, added, removed = incremental.apply_affected_members(conn, segment_id, query)
    counts = DropCounts(count - added + removed, count, added, removed)
    if gate.holds(conn, counts):
        savepoint.rollback()
    else:
        savepoint.commit()
    gate.check_drop(conn, counts)  # records and raises when held; logs an accepted drop
    return count, added, removed


def _stale_reason(conn: Connection, segment: SegmentRow, as_of: datetime, version: int, force: bool) -> str | None:
    if force:
        return "forced"
    deps = [DependencyState(d.key, d.last_refreshed_at) for d in memberships.dependencies_of(conn, segment.id)]
    return stale_reason(segment, as_of, version, deps) or incremental.unseen_changes(conn, segment.id)


def _shared_features(conn: Connection, run_id: int, key: str, as_of: datetime, force: bool) -> set[EventFeature]:
    """The segment's event features, once the run's shared scans holding any of them are built; empty when the
    segment is up to date (nothing to compute) or its rules do not parse (its computation reports that)."""
    segment = require_segment(conn, key)
    features: set[EventFeature] = set()
    if _stale_reason(conn, segment, as_of, runs.data_version(conn), force) is not None:
        with suppress(InvalidInput):
            features = segment_features(parse_rules(segment.rules))
    feature_tables.ensure_built(conn, run_id, features, as_of)
    return features


def members_resolver(conn: Connection) -> Resolver:
    """resolve_segment for the compiler: a referenced segment's stored members, as of its latest refresh."""

    def resolve_segment(key: str) -> sa.Select[Any]:
        segment = get_segment(conn, key)
        if segment is None:
            raise SegpipeError(f"rules reference unknown segment '{key}'")
        return memberships.members_of(segment.id)

    return resolve_segment


def _record_failure(
    engine: Engine, conn: Connection, key: str, refresh_id: int, exc: BaseException | None
) -> SegmentRefreshResult:
    """Record `failed` (or `cancelled` when interrupted) on a fresh connection: `conn` may be broken."""
    try:
        conn.rollback()
    except sa.exc.SQLAlchemyError:
        conn.invalidate()
    status, error = ("failed", describe_error(exc)) if exc is not None else ("cancelled", "interrupted")
    try:
        with engine.begin() as other:
            duration = runs.record_outcome(other, refresh_id, status, error=error)
    except sa.exc.SQLAlchemyError:
        duration = None
    return SegmentRefreshResult(key, status, duration_ms=duration, error=error)


def describe_error(exc: BaseException) -> str:
    """One line naming the error: the driver's message for database errors, without the SQL text."""
    if isinstance(exc, SegpipeError):
        return str(exc)
    if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None:
        exc = exc.orig
    return describe_driver_error(exc)
