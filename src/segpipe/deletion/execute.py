"""The delete stage: the manifest batch by batch, each batch one transaction with its job update and audit row.

Postgres deletes each batch itself (`segpipe.delete_profile_batch`, a SECURITY DEFINER function, sql/0013), so
a role without DELETE on the customer tables can delete only a gated job's manifest, and only for an actor
holding the permissions. A batch is all or nothing: its rows, its manifest rows marked `deleted`, the job's
counter and its audit row commit together. Running a batch again finds no pending manifest rows and does
nothing, so a crash, a kill or a retried task resumes at the first unfinished batch without deleting or counting
anything twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.engine import Connection, Engine

from segpipe.db import schema as t
from segpipe.deletion import audit, jobs
from segpipe.deletion.gates import JobCancelled, require_state
from segpipe.errors import GateRefused, InvalidInput
from segpipe.progress import NullProgress, Progress

_m = t.deletion_manifest
_INSUFFICIENT_PRIVILEGE = "42501"


@dataclass(frozen=True)
class BatchResult:
    job_id: uuid.UUID
    batch_no: int
    manifest_profiles: int
    """The batch's size in the manifest (0 when it was done before)."""
    profiles: int
    """Profiles deleted: fewer than the manifest's when some were deleted meanwhile by someone else."""
    tables: dict[str, int] = field(default_factory=dict)
    already_done: bool = False
    """True when the batch had been committed before (a retry): nothing was done this time."""


def pending_batches(conn: Connection, job_id: uuid.UUID) -> list[int]:
    query = sa.select(_m.c.batch_no).where(_m.c.job_id == job_id, ~_m.c.deleted).distinct().order_by(_m.c.batch_no)
    return list(conn.execute(query).scalars())


def pending_profiles(conn: Connection, job_id: uuid.UUID) -> int:
    query = sa.select(sa.func.count()).select_from(_m).where(_m.c.job_id == job_id, ~_m.c.deleted)
    return int(conn.execute(query).scalar_one())


def batch_ids(conn: Connection, job_id: uuid.UUID, batch_no: int, *, pending_only: bool = True) -> list[int]:
    """The batch's profile ids, ascending (the order the indexes are walked in)."""
    query = sa.select(_m.c.profile_id).where(_m.c.job_id == job_id, _m.c.batch_no == batch_no)
    if pending_only:
        query = query.where(~_m.c.deleted)
    return list(conn.execute(query.order_by(_m.c.profile_id)).scalars())


def delete_batch(engine: Engine, job_id: uuid.UUID, batch_no: int) -> BatchResult:
    """Delete one batch of the manifest in one transaction; a batch already done is a no-op."""
    with engine.begin() as conn:
        job = jobs.require_job(conn, job_id, for_update=True)
        if job.state == jobs.CANCELLED:
            raise JobCancelled(job_id)
        require_state(job, (jobs.GATE_PASSED, jobs.DELETING), "delete a batch of")
        if job.dry_run:
            raise InvalidInput(f"job {job_id} is a dry run: it deletes nothing", where="job")
        detail = delete_in_postgres(conn, job_id, batch_no)
    if detail is None:
        return BatchResult(job_id, batch_no, 0, 0, already_done=True)
    tables = {name: int(n) for name, n in detail["tables"].items()}
    return BatchResult(job_id, batch_no, int(detail["manifest_profiles"]), tables["profiles"], tables)


_DELETE_BATCH = sa.text("SELECT segpipe.delete_profile_batch(:job, :batch, :sweep)").bindparams(
    sa.bindparam("job", type_=UUID(as_uuid=True)), sa.bindparam("batch", type_=sa.Integer)
)


def delete_in_postgres(conn: Connection, job_id: uuid.UUID, batch_no: int, *, sweep: bool = False) -> Any:
    """Run `segpipe.delete_profile_batch` (sql/0013): Postgres deletes the batch's rows, marks the manifest,
    counts and audits, and refuses unless the job, its actor and this session qualify. Returns the audit
    detail, or None when there was nothing to do."""
    try:
        return conn.execute(_DELETE_BATCH, {"job": job_id, "batch": batch_no, "sweep": sweep}).scalar()
    except sa.exc.DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == _INSUFFICIENT_PRIVILEGE:
            raise GateRefused("permission", f"deletion job {job_id}: {_message(exc)}") from None
        raise


def _message(exc: sa.exc.DBAPIError) -> str:
    diag = getattr(exc.orig, "diag", None)
    return str(getattr(diag, "message_primary", None) or exc.orig)


def run_batches(engine: Engine, job_id: uuid.UUID, progress: Progress | None = None) -> list[BatchResult]:
    """Delete every pending batch in order, reporting progress in profiles; a cancel stops before the next."""
    progress = progress or NullProgress()
    with engine.begin() as conn:
        job = jobs.require_job(conn, job_id)
        pending = pending_batches(conn, job_id)
        left = pending_profiles(conn, job_id)
    total = int(job.matched or 0)
    progress.start(total, "delete profiles")
    results = []
    try:
        progress.advance(total - left)
        for batch_no in pending:
            try:
                result = delete_batch(engine, job_id, batch_no)
            except JobCancelled:
                break
            results.append(result)
            progress.advance(result.manifest_profiles, f"batch {batch_no}/{job.batches}")
    finally:
        progress.finish()
    return results


def delete_stage(engine: Engine, job_id: uuid.UUID, progress: Progress | None = None) -> list[BatchResult]:
    """The plan's delete stage: release a due hold, delete the pending batches, hand the job to verification."""
    with engine.begin() as conn:
        job = jobs.require_job(conn, job_id, for_update=True)
        if job.state == jobs.HELD:
            _release(conn, job)
        jobs.move(conn, job_id, (jobs.GATE_PASSED,), jobs.DELETING)
    results = run_batches(engine, job_id, progress)
    with engine.begin() as conn:
        if not pending_batches(conn, job_id):
            jobs.move(conn, job_id, (jobs.DELETING,), jobs.VERIFYING)
    return results


def _release(conn: Connection, job: jobs.JobRow) -> None:
    due = conn.execute(sa.select(sa.func.clock_timestamp() >= job.execute_after)).scalar()
    if not due:
        raise GateRefused("held", f"deletion job {job.id} is held until {job.execute_after:%Y-%m-%d %H:%M:%S %Z}")
    jobs.move(conn, job.id, (jobs.HELD,), jobs.DELETING)
    after = job.execute_after.isoformat() if job.execute_after else None
    audit.append(conn, job.id, "released", {"execute_after": after})
