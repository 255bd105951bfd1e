"""Operating deletion jobs: list them, find whether an external id was deleted, cancel a job, run held jobs
whose time has come (`segpipe deletion list|lookup|cancel|run-due`, the scheduled `run-due-deletions` flow)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from segpipe.db import schema as t
from segpipe.deletion import audit, jobs
from segpipe.deletion.audit import SALT_SETTING, hash_external_id
from segpipe.deletion.run import DeletionResult, check_resume, result_of, run_job
from segpipe.deletion.verify import job_totals
from segpipe.errors import GateRefused, SegpipeError
from segpipe.progress import Progress

_jobs, _audit, _m = t.deletion_jobs, t.deletion_audit, t.deletion_manifest


@dataclass(frozen=True)
class JobSummary:
    job_id: uuid.UUID
    segment_key: str
    actor: str
    state: str
    matched: int | None
    deleted_profiles: int
    created_at: datetime
    execute_after: datetime | None
    dry_run: bool


def list_jobs(conn: Connection, limit: int | None = None) -> list[JobSummary]:
    """Deletion jobs, newest first."""
    j = _jobs
    query = sa.select(
        j.c.id, j.c.segment_key, j.c.actor, j.c.state, j.c.matched, j.c.deleted_profiles, j.c.created_at,
        j.c.execute_after, j.c.dry_run,
    ).order_by(j.c.created_at.desc(), j.c.id)  # fmt: skip
    return [JobSummary(*row) for row in conn.execute(query.limit(limit))]


@dataclass(frozen=True)
class Lookup:
    deleted: bool
    jobs: list[dict[str, Any]] = field(default_factory=list)
    """The jobs whose committed batches deleted a profile with this external id: job id, segment, actor, when."""


def lookup(conn: Connection, external_id: str) -> Lookup:
    """Was a profile with this external id deleted, and by which job? Found through the salted hash in the
    audit (the raw id is hashed here and never stored)."""
    salt = conn.execute(sa.select(t.settings.c.value).where(t.settings.c.name == SALT_SETTING)).scalar()
    if salt is None:
        return Lookup(False)
    listed = _audit.c.detail["external_id_hashes"].has_key(hash_external_id(salt, external_id))
    query = (
        sa.select(_jobs.c.id, _jobs.c.segment_key, _jobs.c.actor, _jobs.c.state, sa.func.min(_audit.c.at))
        .join(_jobs, _jobs.c.id == _audit.c.job_id)
        .where(_audit.c.step == "batch", listed)
        .group_by(_jobs.c.id)
        .order_by(sa.func.min(_audit.c.at))
    )
    found = [
        {"job_id": str(job_id), "segment_key": key, "actor": actor, "state": state, "deleted_at": at}
        for job_id, key, actor, state, at in conn.execute(query)
    ]
    return Lookup(bool(found), found)


def cancel_job(engine: Engine, job_id: uuid.UUID, reason: str = "cancelled by the operator") -> DeletionResult:
    """Cancel a job that has not finished: it deletes nothing more. Batches already committed stay deleted
    and are listed in the `cancelled` audit row. A running batch finishes first (it holds the job's row)."""
    with engine.begin() as conn:
        job = jobs.require_job(conn, job_id, for_update=True)
        if job.state in jobs.FINAL_STATES:
            raise GateRefused("finished", f"deletion job {job_id} is already {job.state}; there is nothing to cancel")
        jobs.move(conn, job_id, (job.state,), jobs.CANCELLED, error=reason)
        audit.append(conn, job_id, "cancelled", _cancel_detail(conn, job, reason))
    return result_of(engine, job_id)


def _cancel_detail(conn: Connection, job: jobs.JobRow, reason: str) -> dict[str, Any]:
    done = sa.select(_m.c.batch_no).where(_m.c.job_id == job.id, _m.c.deleted).distinct().order_by(_m.c.batch_no)
    return {
        "by": conn.execute(sa.select(sa.func.session_user())).scalar_one(),
        "reason": reason,
        "state": job.state,
        "deleted_profiles": job.deleted_profiles,
        "batches_deleted": list(conn.execute(done).scalars()),
        "tables": job_totals(conn, job.id),
    }


def cancel_flow_run_jobs(engine: Engine, flow_run_id: str, reason: str) -> list[uuid.UUID]:
    """Cancel the unfinished jobs driven by this Prefect flow run (its cancellation hook)."""
    with engine.begin() as conn:
        query = sa.select(_jobs.c.id).where(_jobs.c.flow_run_id == flow_run_id, _jobs.c.state.not_in(jobs.FINAL_STATES))
        ids = list(conn.execute(query).scalars())
    for job_id in ids:
        cancel_job(engine, job_id, reason)
    return ids


def due_jobs(conn: Connection) -> list[uuid.UUID]:
    """Held jobs whose hold is over, oldest first."""
    query = (
        sa.select(_jobs.c.id)
        .where(_jobs.c.state == jobs.HELD, _jobs.c.execute_after <= sa.func.clock_timestamp())
        .order_by(_jobs.c.execute_after, _jobs.c.id)
    )
    return list(conn.execute(query).scalars())


@dataclass(frozen=True)
class DueRun:
    job_id: uuid.UUID
    status: str
    deleted_profiles: int = 0
    error: str | None = None


def authorize_due(engine: Engine, job_id: uuid.UUID) -> None:
    """A held job is carried out only if its actor still holds the permissions (audited either way)."""
    with engine.begin() as conn:
        actor = jobs.require_job(conn, job_id).actor
    check_resume(engine, job_id, actor=actor)


def run_due_job(engine: Engine, job_id: uuid.UUID, progress: Progress | None = None) -> DueRun:
    """Carry out one held job whose time has come; its actor must still hold the permissions."""
    try:
        authorize_due(engine, job_id)
        result = run_job(engine, job_id, progress)
    except SegpipeError as exc:
        return DueRun(job_id, "error", error=str(exc))
    return DueRun(job_id, result.status, result.deleted_profiles, result.error)


def run_due(engine: Engine, progress: Progress | None = None) -> list[DueRun]:
    """Carry out every held job whose time has come, one after another."""
    with engine.begin() as conn:
        due = due_jobs(conn)
    return [run_due_job(engine, job_id, progress) for job_id in due]
