"""Deletion tasks: one per stage of the plan (`segpipe.deletion.stages.PLAN`), plus the job's bookkeeping.

A stage task may be retried: every stage continues from the job's state (a committed batch is not deleted
again). Cancelling is a plain function, not a task: Prefect starts no task in a flow run that is cancelling.
"""

from __future__ import annotations

import time
import uuid

from prefect import get_client, task
from prefect.runtime import flow_run

from segpipe.deletion import DeletionRequest, DeletionResult, Preview, confirm_deletion, plan_deletion, preview
from segpipe.deletion import result_of as deletion_result
from segpipe.deletion.gates import refuse_job
from segpipe.deletion.jobs import FINAL_STATES, require_job
from segpipe.deletion.operations import authorize_due, cancel_flow_run_jobs, cancel_job, due_jobs
from segpipe.deletion.stages import StageContext, StageStep, run_stage, step_of
from segpipe.errors import GateRefused
from tasks import db
from tasks.narration import count, duration, log
from tasks.policy import db_task


@task(name="plan-deletion", **db_task("deletion", run_name="plan deletion from {request.segment_key}"))
def plan_deletion_task(request: DeletionRequest) -> uuid.UUID:
    """Permission and (when given) confirmation, then the job; a refusal is recorded and raised (exit 3)."""
    job_id = plan_deletion(db.engine(), request).job_id
    confirmed = "confirmed upfront" if request.confirm is not None else "approval asked later"
    log().info(
        "deletion job %s planned: segment %s, actor %s, %s", job_id, request.segment_key, request.actor, confirmed
    )
    return job_id


@task(name="next-stage", **db_task("deletion", run_name="next stage of {job_id}"))
def next_stage_task(job_id: uuid.UUID, ran: list[str]) -> StageStep:
    return step_of(db.engine(), job_id, ran)


@task(name="deletion-stage", **db_task("deletion", run_name="{name} {job_id}"))
def run_stage_task(job_id: uuid.UUID, name: str) -> None:
    """One stage of the plan; batches report progress, and a cancelled flow run cancels the job between two."""
    started = time.perf_counter()
    run_stage(db.engine(), job_id, name, StageContext(progress=CancellingProgress(job_id)))
    log().info("%s of job %s done in %s", name, job_id, duration((time.perf_counter() - started) * 1000))


@task(name="preview-deletion", **db_task("deletion", run_name="preview {job_id}"))
def preview_task(job_id: uuid.UUID) -> Preview:
    shown = preview(db.engine(), job_id)
    tables = ", ".join(f"{table} {count(n)}" for table, n in sorted(shown.tables.items()))
    log().info(
        "preview of job %s: %s profiles of %s; rows per table: %s",
        job_id,
        count(shown.count),
        shown.segment_key,
        tables or "none",
    )
    return shown


@task(name="confirm-deletion", **db_task("deletion", run_name="confirm {job_id}"))
def confirm_task(job_id: uuid.UUID, confirm: str, expected: int) -> None:
    confirm_deletion(db.engine(), job_id, confirm, expected)
    log().info("deletion job %s approved (%s profiles expected)", job_id, count(expected))


@task(name="refuse-deletion", **db_task("deletion", run_name="refuse {job_id}"))
def refuse_task(job_id: uuid.UUID, gate: str, message: str) -> str:
    """Record a refusal (e.g. no approval in time); returns the message instead of raising."""
    try:
        refuse_job(db.engine(), job_id, gate, message)
    except GateRefused as exc:
        message = exc.message
    log().warning("deletion job %s refused (%s): %s", job_id, gate, message)
    return message


@task(name="due-deletions", **db_task("deletion", run_name="held deletions due"))
def due_jobs_task() -> list[uuid.UUID]:
    with db.engine().begin() as conn:
        return due_jobs(conn)


@task(name="authorize-due-deletion", **db_task("deletion", run_name="authorize {job_id}"))
def authorize_due_task(job_id: uuid.UUID) -> None:
    """A held job's actor must still hold the permissions when it is carried out (audited)."""
    authorize_due(db.engine(), job_id)


def result_of(job_id: uuid.UUID) -> DeletionResult:
    """The job as it stands (a plain call: it also runs after the flow run was cancelled)."""
    return deletion_result(db.engine(), job_id)


def cancel(job_id: uuid.UUID, reason: str) -> DeletionResult:
    """Cancel the job unless it already ended; returns it as it stands."""
    engine = db.engine()
    with engine.begin() as conn:
        finished = require_job(conn, job_id).state in FINAL_STATES
    return deletion_result(engine, job_id) if finished else cancel_job(engine, job_id, reason)


def cancel_flow_run(flow_run_id: str, reason: str) -> None:
    cancel_flow_run_jobs(db.engine(), flow_run_id, reason)


def flow_run_cancelled() -> bool:
    """Whether this flow run was asked to cancel (Cancelling or Cancelled in the API)."""
    run_id = flow_run.get_id()
    if run_id is None:
        return False
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(uuid.UUID(str(run_id))).state
    return state is not None and (state.is_cancelling() or state.is_cancelled())


class CancellingProgress:
    """Progress of a stage (the Progress protocol) that cancels the job as soon as its flow run is cancelled,
    so the next batch is not deleted."""

    def __init__(self, job_id: uuid.UUID) -> None:
        self.job_id = job_id

    def start(self, total: int | None, description: str = "") -> None:
        return None

    def advance(self, steps: int = 1, description: str | None = None) -> None:
        if description and flow_run_cancelled():
            cancel(self.job_id, "the Prefect flow run was cancelled")

    def finish(self) -> None:
        return None
