"""The refresh engine: plan (which segments, in which waves), run records, and the sequential `refresh()`.

An orchestrator can run the same steps itself: `plan_refresh` → `start_run` → `refresh_segment` for each planned
segment, wave by wave (segments of one wave are independent) → `finish_run`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from segpipe.db import schema as t
from segpipe.errors import InvalidInput, NotFound, is_transient
from segpipe.progress import NullProgress, Progress
from segpipe.refresh import feature_tables, guard, incremental, prune, shared
from segpipe.refresh import graph as g
from segpipe.refresh.locks import refresh_in_progress
from segpipe.refresh.membership import SegmentRefreshResult, refresh_segment
from segpipe.refresh.stale import DependencyState, stale_reason
from segpipe.rules import RuleNode, parse_rules
from segpipe.store import runs
from segpipe.store.segments import SegmentRow, dependency_keys, list_segments

__all__ = [
    "PlannedSegment",
    "RefreshPlan",
    "RefreshRunResult",
    "SegmentRefreshResult",
    "SkippedSegment",
    "finish_run",
    "plan_refresh",
    "refresh",
    "refresh_in_progress",
    "refresh_segment",
    "start_run",
]


@dataclass(frozen=True)
class PlannedSegment:
    key: str
    segment_id: int
    requested: bool
    """False for a dependency pulled in by a requested segment."""
    depends_on: tuple[str, ...]
    stale_reason: str | None
    """Why it needs computing, as seen when planning; None = up to date (decided again when it runs)."""


@dataclass(frozen=True)
class SkippedSegment:
    key: str
    segment_id: int
    reason: str


@dataclass(frozen=True)
class RefreshPlan:
    as_of: datetime
    waves: tuple[tuple[PlannedSegment, ...], ...]
    """Each wave only depends on earlier waves; segments within a wave can run concurrently."""
    skipped: tuple[SkippedSegment, ...] = ()
    rewound: tuple[str, ...] = ()
    """Planned segments whose live state is later than `as_of`: the run rewinds them (it was asked to)."""

    @property
    def segments(self) -> list[PlannedSegment]:
        return [segment for wave in self.waves for segment in wave]


@dataclass(frozen=True)
class RefreshRunResult:
    run_id: int
    as_of: datetime
    segments: list[SegmentRefreshResult] = field(default_factory=list)

    rewind: bool = False
    """The run replaced some live membership by an earlier one (`--rewind`)."""

    @property
    def failed(self) -> list[str]:
        return [s.key for s in self.segments if s.status == "failed"]

    @property
    def held(self) -> list[SegmentRefreshResult]:
        """Segments the count gate held (`guard`): stored members unchanged."""
        return [s for s in self.segments if s.status == "held"]

    def to_json(self) -> dict[str, Any]:
        """The run as JSON-ready data: `run_id`, `as_of`, `rewind` and one object per segment (the engine's fields)."""
        segments = [asdict(s) for s in self.segments]
        return {"run_id": self.run_id, "as_of": self.as_of.isoformat(), "rewind": self.rewind, "segments": segments}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RefreshRunResult:
        segments = [SegmentRefreshResult(**s) for s in data["segments"]]
        return cls(data["run_id"], datetime.fromisoformat(data["as_of"]), segments, bool(data.get("rewind")))

    def held_message(self) -> str:
        """`refresh held: KEY would remove …` for each held segment, joined by `; `."""
        return "; ".join(f"refresh held: {s.key} {s.reason}" for s in self.held)


def plan_refresh(
    conn: Connection, keys: Iterable[str] | None, as_of: datetime | None = None, *, rewind: str = "refuse"
) -> RefreshPlan:
    """Plan a refresh of `keys` (None: refresh-all) and their dependencies; unknown keys raise NotFound (exit 2).

    Refresh-all takes every active segment, plus archived active ones that a consumer references; segments
    they reference come along whatever their status. The others are skipped as "inactive" or "archived".
    Named keys are refreshed whatever their status or archival (the user asked for them).
    A planned segment whose live state is later than `as_of` is a rewind (`guard.plan_rewinds`): `rewind`
    is `refuse` (GateRefused, exit 3), `allow` or `skip` (`guard.rewind_mode`).
    """
    as_of = _utc(as_of) if as_of is not None else conn.execute(sa.select(sa.func.clock_timestamp())).scalar_one()
    segments = {s.key: s for s in list_segments(conn)}
    graph = dependency_keys(conn)
    if keys is None:
        requested, reasons = _refresh_all_selection(conn, segments)
    else:
        requested, reasons = ({keys} if isinstance(keys, str) else set(keys)), {}
        _check_known(requested, segments)
    needed = g.with_dependencies(graph, requested)
    stored = {k: s.last_refresh_as_of for k, s in segments.items()}
    rewound, not_rewound = guard.plan_rewinds(graph, stored, needed, as_of, rewind)
    reasons |= not_rewound
    needed -= not_rewound.keys()
    skipped = tuple(SkippedSegment(k, segments[k].id, reasons[k]) for k in sorted(reasons.keys() - needed))
    waves = _planned_waves(graph, needed, requested, segments, as_of, runs.data_version(conn))
    return RefreshPlan(as_of=as_of, waves=waves, skipped=skipped, rewound=tuple(sorted(rewound)))


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _check_known(keys: set[str], segments: dict[str, SegmentRow]) -> None:
    unknown = sorted(keys - segments.keys())
    if unknown:
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        raise NotFound(f"unknown segment '{unknown[0]}'{more}")


def _refresh_all_selection(conn: Connection, segments: dict[str, SegmentRow]) -> tuple[set[str], dict[str, str]]:
    """(requested keys, skip reason of every other key) for refresh-all."""
    used = _used_by_consumers(conn)
    requested: set[str] = set()
    reasons: dict[str, str] = {}
    for key, segment in segments.items():
        if segment.status == "active" and (not segment.archived or key in used):
            requested.add(key)
        else:
            reasons[key] = "archived" if segment.archived and key not in used else "inactive"
    return requested, reasons


def _used_by_consumers(conn: Connection) -> set[str]:
    cs, s = t.consumer_segments, t.segments
    query = sa.select(s.c.key).distinct().join(cs, cs.c.segment_id == s.c.id)
    return set(conn.execute(query).scalars())


def _planned_waves(
    graph: g.Graph,
    needed: set[str],
    requested: set[str],
    segments: dict[str, SegmentRow],
    as_of: datetime,
    version: int,
) -> tuple[tuple[PlannedSegment, ...], ...]:
    """Waves of planned segments; staleness propagates: a segment whose dependency is stale is stale too."""
    stale: dict[str, str | None] = {}
    result = []
    for wave in g.waves(graph, needed):
        planned = []
        for key in wave:
            segment, deps = segments[key], sorted(graph.get(key, set()))
            states = [DependencyState(d, None if stale[d] else segments[d].last_refreshed_at) for d in deps]
            stale[key] = stale_reason(segment, as_of, version, states)
            planned.append(PlannedSegment(key, segment.id, key in requested, tuple(deps), stale[key]))
        result.append(tuple(planned))
    return tuple(result)


def start_run(
    conn: Connection,
    plan: RefreshPlan,
    trigger: str = "manual",
    flow_run_id: str | None = None,
    *,
    force: bool = False,
) -> int:
    """Record a run: its planned segments as `queued`, its skipped segments as `skipped` with the reason.

    Also plans the run's shared event scans over the segments it will compute (the stale ones; all with
    `force`); the scans themselves run when the first segment needing them is refreshed.
    """
    run_id = runs.create_run(conn, trigger, plan.as_of, flow_run_id, rewind=bool(plan.rewound))
    rows = [{"segment_id": s.segment_id, "status": "queued"} for s in plan.segments]
    rows += [{"segment_id": s.segment_id, "status": "skipped", "reason": s.reason} for s in plan.skipped]
    runs.add_segment_refreshes(conn, run_id, rows)
    computed = [s.segment_id for s in plan.segments if force or s.stale_reason is not None]
    if not force:  # segments refreshed incrementally read no shared scan
        computed = sorted(set(computed) - incremental.incremental_ids(conn, computed, plan.as_of))
    _plan_shared_scans(conn, run_id, computed)
    return run_id


def _plan_shared_scans(conn: Connection, run_id: int, segment_ids: list[int]) -> None:
    """Drop tables left by ended or crashed runs, then plan this run's shared scans (`refresh.shared`)."""
    rule_sets = _parsed_rules(conn, segment_ids) if len(segment_ids) >= shared.MIN_CONSUMERS else []
    try:
        with conn.begin_nested():
            feature_tables.drop_abandoned(conn)
            feature_tables.create_catalog(conn, run_id, shared.plan_groups(rule_sets))
    except sa.exc.SQLAlchemyError as exc:
        # Sharing is an optimization: without a catalog every segment scans on its own.
        if is_transient(exc):
            raise


def _parsed_rules(conn: Connection, segment_ids: list[int]) -> list[RuleNode]:
    query = sa.select(t.segments.c.rules).where(t.segments.c.id.in_(segment_ids))
    parsed = []
    for rules in conn.execute(query).scalars():
        try:
            parsed.append(parse_rules(rules))
        except InvalidInput:
            continue  # its refresh fails and reports why
    return parsed


ANALYZE_AFTER_ROWS = 100_000
"""Membership rows a run must write before `finish_run` refreshes the table's statistics (autovacuum is off)."""


def finish_run(conn: Connection, run_id: int) -> RefreshRunResult:
    """Close the run (segments still queued become `cancelled`), drop its shared-scan tables, prune the change
    logs, analyze `memberships` after large writes, and return what happened to each segment."""
    runs.finish_run(conn, run_id)
    feature_tables.drop_run_tables(conn, run_id)
    prune.prune_change_logs(conn)
    r = t.refresh_runs
    as_of, rewind = conn.execute(sa.select(r.c.as_of, r.c.rewind).where(r.c.id == run_id)).one()
    segments = [
        SegmentRefreshResult(
            key,
            row.status,
            row.member_count,
            row.added,
            row.removed,
            row.duration_ms,
            row.error,
            row.reason,
            row.mode,
            row.evaluated,
        )
        for key, row in runs.run_segment_refreshes(conn, run_id)
    ]
    if sum((s.added or 0) + (s.removed or 0) for s in segments) >= ANALYZE_AFTER_ROWS:
        conn.execute(sa.text(f"ANALYZE {conn.dialect.identifier_preparer.format_table(t.memberships)}"))
    return RefreshRunResult(run_id, as_of, segments, rewind)


def refresh(
    conn_or_engine: Connection | Engine,
    keys: Iterable[str] | None = None,
    as_of: datetime | None = None,
    *,
    trigger: str = "manual",
    force: bool = False,
    progress: Progress | None = None,
    accept_drop: bool = False,
    rewind: bool = False,
) -> RefreshRunResult:
    """Refresh `keys` (None: refresh-all) and their stale dependencies, dependencies first, one run.

    One as_of for the whole run (default: now, when the run starts). Each segment runs in its own
    transaction on its own connection; a failure is recorded and skips its dependents, nothing else.
    A Connection argument only lends its engine: the run commits on connections of its own.
    `accept_drop` publishes drops the count gate would hold, for the requested segments only; `rewind` lets
    the run replace live membership by an earlier one (see `guard`).
    """
    engine = conn_or_engine if isinstance(conn_or_engine, Engine) else conn_or_engine.engine
    progress = progress or NullProgress()
    with engine.begin() as conn:
        plan = plan_refresh(conn, keys, as_of, rewind=guard.rewind_mode(rewind, trigger))
        run_id = start_run(conn, plan, trigger, force=force)
    progress.start(len(plan.segments), "refresh")
    try:
        for planned in plan.segments:
            progress.advance(0, planned.key)
            accept = accept_drop and planned.requested
            refresh_segment(engine, run_id, planned.key, plan.as_of, force=force, accept_drop=accept)
            progress.advance(1)
    finally:
        progress.finish()
        with engine.begin() as conn:
            result = finish_run(conn, run_id)
    return result
