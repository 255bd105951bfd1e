"""A whole deletion in one process (the CLI): plan, then run the job's stages (`stages.PLAN`) to the end.

`resume(job_id)` runs an existing job on from whatever state it was left in: a job killed before its gate is
refreshed and frozen again (its lock was gone meanwhile), one killed while deleting continues at its first
unfinished batch, one whose verification failed is verified again, a held job whose time has come deletes.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from segpipe.db import schema as t
from segpipe.deletion import audit, jobs
from segpipe.deletion.execute import pending_batches
from segpipe.deletion.gates import confirmation_error, refuse_job
from segpipe.deletion.locks import deletion_locks
from segpipe.deletion.plan import DeletionRequest, Preview, plan_deletion
from segpipe.deletion.stages import StageContext, advance, explain
from segpipe.deletion.verify import job_totals
from segpipe.errors import GateRefused, InvalidInput, RefreshInProgress
from segpipe.permissions import DELETE_PROFILES, missing_permissions
from segpipe.progress import Progress


@dataclass(frozen=True)
class DeletionResult:
    job_id: uuid.UUID
    status: str
    segment_key: str
    segment_name: str | None
    actor: str
    dry_run: bool
    expected: int | None
    matched: int | None
    deleted_profiles: int
    batches: int | None
    batches_done: int
    tables: dict[str, int]
    """Rows deleted per table (activity: rows anonymized), from the audit."""
    manifest_sha256: str | None
    gate: dict[str, Any] | None
    verification: dict[str, Any] | None
    error: str | None = None
    preview: Preview | None = None
    execute_after: datetime | None = None
    """When a held job is carried out (unless cancelled)."""
    plan: list[str] = field(default_factory=list)
    """The job's stages in words (`stages.explain`)."""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["job_id"] = str(self.job_id)
        data["execute_after"] = self.execute_after.isoformat() if self.execute_after else None
        if self.preview is not None:
            data["preview"]["job_id"] = str(self.preview.job_id)
        return data


def run_deletion(engine: Engine, request: DeletionRequest, progress: Progress | None = None) -> DeletionResult:
    """Steps 1–7 (1–5 for a dry run) under the job's and the segment's locks; refusals raise (exit 3)."""
    plan = plan_deletion(engine, request)
    return run_job(engine, plan.job_id, progress)


def resume(
    engine: Engine,
    job_id: uuid.UUID,
    progress: Progress | None = None,
    *,
    actor: str | None = None,
    segment_key: str | None = None,
    confirm: str | None = None,
    expected: int | None = None,
) -> DeletionResult:
    """Continue a job where it stopped; the arguments given must agree with the job (the same deletion)."""
    check_resume(engine, job_id, actor=actor, segment_key=segment_key, confirm=confirm, expected=expected)
    return run_job(engine, job_id, progress)


def check_resume(
    engine: Engine,
    job_id: uuid.UUID,
    *,
    actor: str | None = None,
    segment_key: str | None = None,
    confirm: str | None = None,
    expected: int | None = None,
) -> None:
    """Refuse to continue a job for an actor that lacks the permissions now, or a confirmation that does not
    match; audited as `resumed` or `resume_refused` (the job itself unchanged)."""
    with engine.begin() as conn:
        job = jobs.require_job(conn, job_id)
        _check_same_job(job, segment_key, expected)
        refusal = _resume_refusal(conn, job, actor, confirm)
        audit.append(conn, job_id, "resume_refused" if refusal else "resumed", {"actor": actor, "state": job.state})
    if refusal is not None:
        raise refusal


def _check_same_job(job: jobs.JobRow, segment_key: str | None, expected: int | None) -> None:
    if segment_key is not None and segment_key != job.segment_key:
        raise InvalidInput(f"job {job.id} deletes from segment '{job.segment_key}', not '{segment_key}'", where="--job")
    if expected is not None and job.expected is not None and expected != job.expected:
        raise InvalidInput(f"job {job.id} was started with --expect {job.expected}, not {expected}", where="--job")


def _resume_refusal(conn: Connection, job: jobs.JobRow, actor: str | None, confirm: str | None) -> GateRefused | None:
    if actor is not None and (missing := missing_permissions(conn, actor, DELETE_PROFILES)):
        return GateRefused("permission", f"actor '{actor}' lacks {', '.join(missing)}", {"missing": missing})
    if (
        confirm is not None
        and job.segment_name is not None
        and (error := confirmation_error(confirm, job.segment_name))
    ):
        return GateRefused("confirmation", f"segment '{job.segment_key}': {error}")
    return None


def run_job(engine: Engine, job_id: uuid.UUID, progress: Progress | None = None) -> DeletionResult:
    """Run the job's stages under its and its segment's locks until it is final or waits."""
    with engine.begin() as conn:
        job = jobs.require_job(conn, job_id)
    if job.state in jobs.FINAL_STATES:
        return result_of(engine, job_id)
    try:
        with deletion_locks(engine, job_id, job.segment_key) as locked:
            ctx = StageContext(locked=locked, progress=progress)
            advance(engine, job_id, ctx)
            shown = ctx.preview
    except RefreshInProgress as exc:
        if job.state == jobs.CREATED:
            refuse_job(engine, job_id, exc.gate, exc.message)
        raise
    return result_of(engine, job_id, shown)


def result_of(engine: Engine, job_id: uuid.UUID, shown: Preview | None = None) -> DeletionResult:
    """The job as it stands, with its per-table totals and its last verification."""
    with engine.begin() as conn:
        job = jobs.require_job(conn, job_id)
        pending = len(pending_batches(conn, job_id))
        a = t.deletion_audit
        last = sa.select(a.c.detail).where(a.c.job_id == job_id, a.c.step == "verified").order_by(a.c.id.desc())
        verification = conn.execute(last.limit(1)).scalar()
        totals = job_totals(conn, job_id)
    return DeletionResult(
        job_id=job.id,
        status=job.state,
        segment_key=job.segment_key,
        segment_name=job.segment_name,
        actor=job.actor,
        dry_run=job.dry_run,
        expected=job.expected,
        matched=job.matched,
        deleted_profiles=job.deleted_profiles,
        batches=job.batches,
        batches_done=(job.batches or 0) - pending if job.batches is not None else 0,
        tables=totals,
        manifest_sha256=job.manifest_digest,
        gate=job.gate,
        verification=verification,
        error=job.error,
        preview=shown,
        execute_after=job.execute_after,
        plan=explain(job),
    )
