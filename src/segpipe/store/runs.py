"""Refresh history: one `refresh_runs` row per run, one `segment_refreshes` row per segment in it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from segpipe.db import schema as t

STATUSES = ("queued", "running", "succeeded", "failed", "skipped", "cancelled", "held")
_refreshes = t.segment_refreshes


@dataclass(frozen=True)
class SegmentRefreshRow:
    id: int
    run_id: int
    segment_id: int
    status: str
    member_count: int | None
    added: int | None
    removed: int | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: float | None
    error: str | None
    reason: str | None
    mode: str | None = None
    """`full` or `incremental` (None for runs recorded before segpipe told them apart)."""
    evaluated: int | None = None
    """How many profiles the refresh evaluated."""


def create_run(
    conn: Connection, trigger: str, as_of: datetime, flow_run_id: str | None = None, *, rewind: bool = False
) -> int:
    query = sa.insert(t.refresh_runs).values(trigger=trigger, as_of=as_of, flow_run_id=flow_run_id, rewind=rewind)
    return int(conn.execute(query.returning(t.refresh_runs.c.id)).scalar_one())


def finish_run(conn: Connection, run_id: int) -> None:
    """Close the run; segments still queued never ran and become `cancelled`."""
    conn.execute(
        sa.update(_refreshes)
        .where(_refreshes.c.run_id == run_id, _refreshes.c.status == "queued")
        .values(status="cancelled", finished_at=sa.func.clock_timestamp(), reason="the run ended before it ran")
    )
    conn.execute(
        sa.update(t.refresh_runs).where(t.refresh_runs.c.id == run_id).values(finished_at=sa.func.clock_timestamp())
    )


def add_segment_refreshes(conn: Connection, run_id: int, rows: list[dict[str, Any]]) -> None:
    """Insert rows given as {segment_id, status, reason?}; skipped rows are finished at once."""
    if not rows:
        return
    now = sa.func.clock_timestamp()
    values = [
        {
            "run_id": run_id,
            "segment_id": row["segment_id"],
            "status": row["status"],
            "reason": row.get("reason"),
            "finished_at": now if row["status"] == "skipped" else None,
        }
        for row in rows
    ]
    conn.execute(sa.insert(_refreshes).values(values))


def find_segment_refresh(conn: Connection, run_id: int, segment_id: int) -> int | None:
    """The id of the latest row of this segment in this run (a retried task reuses it)."""
    query = (
        sa.select(_refreshes.c.id)
        .where(_refreshes.c.run_id == run_id, _refreshes.c.segment_id == segment_id)
        .order_by(_refreshes.c.id.desc())
        .limit(1)
    )
    return conn.execute(query).scalar()


def ensure_segment_refresh(conn: Connection, run_id: int, segment_id: int) -> int:
    existing = find_segment_refresh(conn, run_id, segment_id)
    if existing is not None:
        return existing
    query = sa.insert(_refreshes).values(run_id=run_id, segment_id=segment_id, status="queued")
    return int(conn.execute(query.returning(_refreshes.c.id)).scalar_one())


def mark_running(conn: Connection, refresh_id: int) -> None:
    conn.execute(
        sa.update(_refreshes)
        .where(_refreshes.c.id == refresh_id)
        .values(
            status="running",
            started_at=sa.func.clock_timestamp(),
            finished_at=None,
            duration_ms=None,
            error=None,
            reason=None,
        )
    )


def record_outcome(conn: Connection, refresh_id: int, status: str, **fields: Any) -> float | None:
    """Finish a row with `status` and any of member_count, added, removed, error, reason; returns duration_ms."""
    now = sa.func.clock_timestamp()
    elapsed = sa.extract("epoch", now - sa.func.coalesce(_refreshes.c.started_at, now)) * 1000
    query = (
        sa.update(_refreshes)
        .where(_refreshes.c.id == refresh_id)
        .values(status=status, finished_at=now, duration_ms=elapsed, **fields)
        .returning(_refreshes.c.duration_ms)
    )
    return conn.execute(query).scalar_one()


def run_statuses(conn: Connection, run_id: int, segment_ids: list[int]) -> dict[int, SegmentRefreshRow]:
    """The latest row of each of these segments in this run."""
    if not segment_ids:
        return {}
    query = (
        sa.select(_refreshes)
        .where(_refreshes.c.run_id == run_id, _refreshes.c.segment_id.in_(segment_ids))
        .order_by(_refreshes.c.segment_id, _refreshes.c.id.desc())
        .distinct(_refreshes.c.segment_id)
    )
    return {row.segment_id: SegmentRefreshRow(**row._mapping) for row in conn.execute(query)}


def latest_segment_refresh(conn: Connection, segment_id: int) -> SegmentRefreshRow | None:
    """The most recent refresh record of a segment in any run (for `segment show`)."""
    query = sa.select(_refreshes).where(_refreshes.c.segment_id == segment_id).order_by(_refreshes.c.id.desc()).limit(1)
    row = conn.execute(query).first()
    return SegmentRefreshRow(**row._mapping) if row else None


def run_segment_refreshes(conn: Connection, run_id: int) -> list[tuple[str, SegmentRefreshRow]]:
    """(segment key, row) of every segment in a run, latest row per segment, in insertion order."""
    latest = (
        sa.select(sa.func.max(_refreshes.c.id)).where(_refreshes.c.run_id == run_id).group_by(_refreshes.c.segment_id)
    )
    query = (
        sa.select(t.segments.c.key, _refreshes)
        .join(t.segments, t.segments.c.id == _refreshes.c.segment_id)
        .where(_refreshes.c.id.in_(latest))
        .order_by(_refreshes.c.id)
    )
    return [
        (row.key, SegmentRefreshRow(**{k: v for k, v in row._mapping.items() if k != "key"}))
        for row in conn.execute(query)
    ]


def data_version(conn: Connection) -> int:
    """The current value of the `data_version` sequence, bumped by every write to customer data (0: never)."""
    seq = sa.table(t.data_version.name, sa.column("last_value"), sa.column("is_called"), schema=t.metadata.schema)
    query = sa.select(sa.case((seq.c.is_called, seq.c.last_value), else_=0))
    return int(conn.execute(query).scalar_one())
