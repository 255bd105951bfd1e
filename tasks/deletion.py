"""Deletion tasks: one per stage of an audited deletion; a batch task may be retried (a done batch is a no-op)."""

from __future__ import annotations

import uuid

from prefect import task

from segpipe.deletion import (
    BatchResult,
    DeletionRequest,
    DeletionResult,
    FrozenManifest,
    Preview,
    Verification,
    confirm_deletion,
    delete_batch,
    freeze_manifest,
    pending_batches,
    plan_deletion,
    preview,
    result_of,
    resume,
    run_gate,
    verify,
)
from segpipe.deletion.gates import refuse_job
from segpipe.errors import GateRefused
from segpipe.quality import QualityReport
from tasks import db
from tasks.policy import db_task


@task(name="plan-deletion", **db_task("deletion", run_name="plan deletion from {request.segment_key}"))
def plan_deletion_task(request: DeletionRequest) -> uuid.UUID:
    """Permission and (when given) confirmation, then the job; a refusal is recorded and raised (exit 3)."""
    return plan_deletion(db.engine(), request).job_id


@task(name="freeze-manifest", **db_task("deletion", run_name="freeze manifest of {job_id}"))
def freeze_manifest_task(job_id: uuid.UUID) -> FrozenManifest:
    return freeze_manifest(db.engine(), job_id)


@task(name="preview-deletion", **db_task("deletion", run_name="preview {job_id}"))
def preview_task(job_id: uuid.UUID) -> Preview:
    return preview(db.engine(), job_id)


@task(name="confirm-deletion", **db_task("deletion", run_name="confirm {job_id}"))
def confirm_task(job_id: uuid.UUID, confirm: str, expected: int) -> None:
    confirm_deletion(db.engine(), job_id, confirm, expected)


@task(name="refuse-deletion", **db_task("deletion", run_name="refuse {job_id}"))
def refuse_task(job_id: uuid.UUID, gate: str, message: str) -> str:
    """Record a refusal (e.g. no approval in time); returns the message instead of raising."""
    try:
        refuse_job(db.engine(), job_id, gate, message)
    except GateRefused as exc:
        return exc.message
    return message


@task(name="deletion-gate", **db_task("deletion", "quality", run_name="quality gate {job_id}"))
def gate_task(job_id: uuid.UUID) -> QualityReport:
    return run_gate(db.engine(), job_id)


@task(name="pending-batches", **db_task("deletion", run_name="pending batches of {job_id}"))
def pending_batches_task(job_id: uuid.UUID) -> list[int]:
    with db.engine().begin() as conn:
        return pending_batches(conn, job_id)


@task(name="delete-batch", **db_task("deletion", run_name="delete batch {batch_no}"))
def delete_batch_task(job_id: uuid.UUID, batch_no: int) -> BatchResult:
    return delete_batch(db.engine(), job_id, batch_no)


@task(name="verify-deletion", **db_task("deletion", run_name="verify {job_id}"))
def verify_task(job_id: uuid.UUID) -> Verification:
    return verify(db.engine(), job_id)


@task(name="finish-dry-run", **db_task("deletion", run_name="dry run {job_id}"))
def dry_run_task(job_id: uuid.UUID) -> DeletionResult:
    """A confirmed dry run: its gate and preview, as the CLI's `--dry-run` does them."""
    return resume(db.engine(), job_id)


@task(name="deletion-result", **db_task("deletion", run_name="result of {job_id}"))
def result_task(job_id: uuid.UUID) -> DeletionResult:
    return result_of(db.engine(), job_id)
