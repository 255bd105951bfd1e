"""Steps 3–4: refresh the segment now, under its lock, and freeze its members as the job's manifest.

The refresh of the segment itself and the manifest are written in one REPEATABLE READ transaction, so the
manifest is exactly the membership the refresh computed (same snapshot). Dependencies are refreshed first
through the refresh engine, in the same refresh run (trigger `deletion`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.engine import Connection, Engine

from segpipe.db import schema as t
from segpipe.db.engine import BULK_SETTINGS, set_local
from segpipe.deletion import audit, jobs
from segpipe.deletion.gates import JobCancelled, refuse_job, require_state
from segpipe.deletion.locks import deletion_locks
from segpipe.errors import SegpipeError
from segpipe.quality import warm_up
from segpipe.refresh.engine import finish_run, plan_refresh, start_run
from segpipe.refresh.membership import (
    compile_segment,
    describe_error,
    members_resolver,
    refresh_segment,
    store_members,
)
from segpipe.store import runs
from segpipe.store.segments import SegmentRow, require_segment

_m = t.deletion_manifest
# Planner settings for the member computation, as the refresh engine uses them (BENCHMARKS.md, "Refresh").


@dataclass(frozen=True)
class FrozenManifest:
    job_id: uuid.UUID
    matched: int
    batches: int
    refresh_run_id: int
    as_of: datetime
    added: int
    removed: int
    digest: str


def freeze_manifest(engine: Engine, job_id: uuid.UUID, *, locked: Connection | None = None) -> FrozenManifest:
    """Refresh the job's segment and freeze the manifest; `locked` is a connection already holding the
    segment's refresh lock (the whole-run path), else the locks are taken here for the duration."""
    with engine.begin() as conn:
        job = jobs.require_job(conn, job_id)
        require_state(job, (jobs.CREATED, jobs.MANIFEST_FROZEN), "freeze the manifest of")
    warm_up()
    if locked is not None:
        frozen = _freeze(engine, locked, job)
    else:
        with deletion_locks(engine, job_id, job.segment_key) as conn:
            frozen = _freeze(engine, conn, job)
    with engine.begin() as conn:
        conn.execute(sa.text(f"ANALYZE {_m.fullname}"))
    return frozen


def _freeze(engine: Engine, conn: Connection, job: jobs.JobRow) -> FrozenManifest:
    run_id, as_of = _refresh_dependencies(engine, job.segment_key)
    try:
        with engine.begin() as other:
            refresh_id = runs.ensure_segment_refresh(other, run_id, job.segment_id or 0)
            runs.mark_running(other, refresh_id)
        try:
            return _refresh_and_freeze(engine, conn, job.id, run_id, refresh_id, as_of)
        except BaseException as exc:
            if conn.in_transaction():
                conn.rollback()
            with engine.begin() as other:
                runs.record_outcome(other, refresh_id, "failed", error=describe_error(exc))
            raise
    finally:
        with engine.begin() as other:
            finish_run(other, run_id)


def _refresh_dependencies(engine: Engine, key: str) -> tuple[int, datetime]:
    """Start a refresh run for the segment and refresh its (stale) dependencies; returns (run id, as_of)."""
    with engine.begin() as conn:
        plan = plan_refresh(conn, [key])
        run_id = start_run(conn, plan, trigger="deletion")
    for planned in plan.segments:
        if planned.key == key:
            continue
        result = refresh_segment(engine, run_id, planned.key, plan.as_of)
        if result.status != "succeeded":
            with engine.begin() as conn:
                finish_run(conn, run_id)
            raise SegpipeError(
                f"segment '{key}': dependency '{planned.key}' {result.status}: {result.error or result.reason}"
            )
    return run_id, plan.as_of


def _refresh_and_freeze(
    engine: Engine, conn: Connection, job_id: uuid.UUID, run_id: int, refresh_id: int, as_of: datetime
) -> FrozenManifest:
    conn.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
    job = jobs.require_job(conn, job_id, for_update=True)
    if job.state == jobs.CANCELLED:
        conn.rollback()
        raise JobCancelled(job_id)
    segment = require_segment(conn, job.segment_key)
    if job.confirmed_at is not None and segment.name != job.segment_name:
        conn.rollback()
        refuse_job(engine, job_id, "confirmation", f"the segment was renamed to '{segment.name}' after confirmation")
    added, removed, count = _refresh(conn, segment, as_of, refresh_id)
    batches = _write_manifest(conn, job_id, segment.id, job.batch_size)
    digest = audit.manifest_digest(conn, job_id)
    frozen = FrozenManifest(job_id, count, batches, run_id, as_of, added, removed, digest)
    jobs.update_job(
        conn,
        job_id,
        state=jobs.MANIFEST_FROZEN,
        matched=count,
        batches=batches,
        refresh_run_id=run_id,
        manifest_digest=digest,
        segment_id=segment.id,
        segment_name=segment.name,
        segment_rules=segment.rules,
    )
    audit.append(conn, job_id, "manifest_frozen", _frozen_detail(frozen, segment, job.batch_size))
    conn.commit()
    return frozen


def _refresh(conn: Connection, segment: SegmentRow, as_of: datetime, refresh_id: int) -> tuple[int, int, int]:
    """The refresh engine's compute-and-diff for one segment, inside the caller's transaction."""
    version = runs.data_version(conn)
    set_local(conn, BULK_SETTINGS)
    query = compile_segment(segment, as_of, members_resolver(conn))
    fields, _ = store_members(conn, segment.id, query, as_of, version, refresh_id, "deletion")
    return fields["added"], fields["removed"], fields["member_count"]


def _write_manifest(conn: Connection, job_id: uuid.UUID, segment_id: int, batch_size: int) -> int:
    """The segment's members, numbered into batches of `batch_size` by ascending id; returns the batch count."""
    conn.execute(sa.delete(_m).where(_m.c.job_id == job_id))
    members = t.memberships
    position = sa.func.row_number().over(order_by=members.c.profile_id) - 1
    rows = sa.select(
        sa.literal(job_id, UUID(as_uuid=True)),
        members.c.profile_id,
        sa.cast(position // batch_size, sa.Integer) + 1,
    ).where(members.c.segment_id == segment_id)
    conn.execute(sa.insert(_m).from_select(["job_id", "profile_id", "batch_no"], rows))
    query = sa.select(sa.func.coalesce(sa.func.max(_m.c.batch_no), 0)).where(_m.c.job_id == job_id)
    return int(conn.execute(query).scalar_one())


def _frozen_detail(frozen: FrozenManifest, segment: SegmentRow, batch_size: int) -> dict[str, Any]:
    return {
        "segment": {"key": segment.key, "name": segment.name, "id": segment.id},
        "rules": segment.rules,
        "refresh_run_id": frozen.refresh_run_id,
        "as_of": frozen.as_of.isoformat(),
        "refresh": {"added": frozen.added, "removed": frozen.removed},
        "matched": frozen.matched,
        "batches": frozen.batches,
        "batch_size": batch_size,
        "manifest_sha256": frozen.digest,
    }
