"""Audited deletion of a segment's profiles: the stages of `segpipe.deletion.stages.PLAN`, one task each.

After the manifest is frozen a preview artifact shows what would be deleted. Without `confirm_name` and
`expected`, a real deletion pauses with a form asking for the segment's exact name and the count shown (a dry
run never pauses: it previews and ends); no answer within `approval_timeout_s` refuses the job and ends the run
Cancelled. Cancelling the flow run (paused or running) cancels the job: nothing more is deleted. With
`hold_days`, the job is frozen and gated now and the scheduled `run-due-deletions` flow deletes it later.
"""

from __future__ import annotations

import contextvars
import threading
import uuid
from typing import Annotated, Any

from prefect import Flow, flow, get_client
from prefect.client.schemas.objects import FlowRun
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run
from prefect.states import Cancelled, Completed, Failed, State
from pydantic import Field

from flows import naming
from flows.params import SegmentKey
from segpipe.deletion import DeletionRequest, DeletionResult
from segpipe.deletion.explain import preview_markdown
from segpipe.deletion.plan import DEFAULT_MAX_SHARE
from segpipe.errors import SegpipeError
from tasks import deletion as d
from tasks import events, reporting
from tasks.actors import resolve_actor_task
from tasks.narration import count, end_refused, log
from tasks.policy import FLOW_TIMEOUT_S

APPROVAL_POLL_S = 2
FLOW_RUN_CANCELLED = "the Prefect flow run was cancelled"


class DeletionApproval(RunInput):
    segment_name: str = Field(description="Type the segment's exact name (case and spaces as shown).")
    expected_count: int = Field(ge=0, description="The number of profiles shown in the preview.")


def _on_cancellation(flow: Flow[..., Any], flow_run: FlowRun, state: State[Any]) -> None:
    """A run cancelled by its runner or worker (process killed): cancel the jobs it drove."""
    d.cancel_flow_run(str(flow_run.id), FLOW_RUN_CANCELLED)


@flow(
    name="delete-segment-profiles",
    flow_run_name=naming.delete_profiles_name,
    persist_result=False,
    timeout_seconds=FLOW_TIMEOUT_S["deletion"],
    on_cancellation=[_on_cancellation],
)
def delete_segment_profiles(
    segment_key: SegmentKey,
    actor: Annotated[
        str | None,
        Field(
            min_length=1,
            description="Who deletes (needs profiles:view and profiles:edit): empty = the worker's database role; "
            "another actor only when that role is an admin.",
        ),
    ] = None,
    confirm_name: Annotated[str | None, Field(description="The segment's exact name; empty: asked later.")] = None,
    expected: Annotated[int | None, Field(ge=0, description="The count you saw; empty: asked later.")] = None,
    dry_run: bool = False,
    batch_size: Annotated[
        int | None, Field(ge=1, description="Profiles deleted per batch; empty: about 5M rows each.")
    ] = None,
    max_share: Annotated[float, Field(gt=0, le=1, description="Refuse above this share of all profiles.")] = (
        DEFAULT_MAX_SHARE
    ),
    tolerance: Annotated[int, Field(ge=0, description="Accepted difference to the expected count.")] = 0,
    approval_timeout_s: Annotated[int, Field(ge=1, description="How long to wait for the approval.")] = 3600,
    hold_days: Annotated[
        int | None, Field(ge=0, description="Delete after this many days unless cancelled; empty: at once.")
    ] = None,
) -> dict[str, Any] | State:
    """Delete every profile of the segment, audited; see docs/orchestration.md and docs/deletion.md. A refusal
    (permission, confirmation, quality gate…) ends the run Failed with its one line, no traceback."""
    confirmed = confirm_name is not None and expected is not None

    def body() -> State:
        request = DeletionRequest(
            segment_key=segment_key,
            actor=resolve_actor_task(actor, "delete-segment-profiles"),
            expected=expected if confirmed else None,
            confirm=confirm_name if confirmed else None,
            dry_run=dry_run,
            batch_size=batch_size,
            max_share=max_share,
            tolerance=tolerance,
            hold_days=hold_days,
            flow_run_id=str(flow_run.get_id()),
        )
        job_id = d.plan_deletion_task(request)
        what = "dry run" if dry_run else f"held {hold_days} day(s)" if hold_days else "deletion"
        started = f"deletion job {job_id} of segment '{segment_key}' started by {request.actor} ({what})"
        events.deletion("started", job_id, segment_key, started, actor=request.actor, dry_run=dry_run)
        ended = run_stages(job_id, approval_timeout_s)
        return ended if ended is not None else _finished(d.result_of(job_id))

    return end_refused(body)


def run_stages(job_id: uuid.UUID, approval_timeout_s: int = 3600) -> State | None:
    """Run the job's stages in plan order, one task each; returns a final state when the run must end early
    (cancelled, or no approval in time), else None (the job is final or held)."""
    ran: list[str] = []
    while True:
        if d.flow_run_cancelled():
            return _cancelled(job_id, d.cancel(job_id, FLOW_RUN_CANCELLED).error or FLOW_RUN_CANCELLED)
        step = d.next_stage_task(job_id, ran)
        if step.waiting == "approval":
            if (ended := _ask_approval(job_id, step.plan, approval_timeout_s)) is not None:
                return ended
            continue
        if step.stage is None:
            return _cancelled(job_id, f"deletion job {job_id} was cancelled") if step.state == "cancelled" else None
        d.run_stage_task(job_id, step.stage)
        ran.append(step.stage)
        if step.stage == "freeze-manifest":
            shown = d.preview_task(job_id)
            reporting.publish_markdown(preview_markdown(shown, step.plan), f"deletion-{job_id}-preview", "preview")


def _ask_approval(job_id: uuid.UUID, plan: list[str], timeout_s: int) -> State | None:
    """Pause for the approval form; a given answer is checked by `confirm_deletion` (a wrong name refuses)."""
    shown = d.preview_task(job_id)
    form = DeletionApproval.with_initial_data(
        description=preview_markdown(shown, plan), segment_name="", expected_count=0
    )
    log().info("deletion job %s: waiting up to %s s for the approval form", job_id, f"{timeout_s:,}")
    answer = _paused(form, timeout_s)
    if answer == "cancelled":
        return _cancelled(job_id, d.cancel(job_id, FLOW_RUN_CANCELLED).error or FLOW_RUN_CANCELLED)
    if answer is None:
        return _cancelled(job_id, d.refuse_task(job_id, "confirmation", f"no approval within {timeout_s} s"))
    d.confirm_task(job_id, answer.segment_name, answer.expected_count)
    return None


def _paused(form: Any, timeout_s: int) -> Any:
    """The approval, None after the timeout, or "cancelled" as soon as the paused run is cancelled.

    `pause_flow_run` waits only for a resume, so it waits on a thread of its own while this one watches for a
    cancellation (the waiting thread ends at the timeout)."""
    answer: dict[str, Any] = {}

    def wait() -> None:
        try:
            answer["input"] = pause_flow_run(wait_for_input=form, timeout=timeout_s, poll_interval=APPROVAL_POLL_S)
        except FlowPauseTimeout:
            answer["input"] = None

    waiter = threading.Thread(target=contextvars.copy_context().run, args=(wait,), daemon=True)
    waiter.start()
    while waiter.is_alive():
        waiter.join(APPROVAL_POLL_S)
        if waiter.is_alive() and d.flow_run_cancelled():
            return "cancelled"
    return answer.get("input")


def _cancelled(job_id: uuid.UUID, message: str) -> State:
    """End the run Cancelled (event `segpipe.deletion.cancelled`). After a pause timed out the server turns any
    other transition into Failed ("paused and never resumed"), so the state is forced."""
    job = d.result_of(job_id)
    log().warning("deletion job %s cancelled: %s", job_id, message)
    events.deletion(
        "cancelled",
        job_id,
        job.segment_key,
        f"deletion job {job_id} of segment '{job.segment_key}' cancelled: {message}",
        status=job.status,
        deleted_profiles=job.deleted_profiles,
    )
    state: State[Any] = Cancelled(message=message)
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(str(flow_run.get_id()), state, force=True)
    return state


def _published(result: DeletionResult) -> dict[str, Any]:
    """The rows-per-table artifact and the `segpipe.deletion.completed` event of a job that ended (or is held)."""
    data = result.to_json()
    rows = [{"table": table, "rows": count(n)} for table, n in sorted(result.tables.items())]
    reporting.publish_table(rows or [{"table": "-", "rows": "0"}], f"deletion-{result.job_id}-tables", result.status)
    message = outcome(result)
    log().info("%s", message)
    events.deletion(
        "completed",
        result.job_id,
        result.segment_key,
        message,
        status=result.status,
        matched=result.matched,
        deleted_profiles=result.deleted_profiles,
    )
    return data


def outcome(result: DeletionResult) -> str:
    """`deletion job … of segment 'churned' completed: 2,459 profiles deleted in 3 batches` (or previewed, held)."""
    head = f"deletion job {result.job_id} of segment '{result.segment_key}' {result.status}"
    if result.status == "held" and result.execute_after:
        return f"{head}: {count(result.matched)} profiles, deleted after {result.execute_after.isoformat()}"
    if result.dry_run or result.status == "previewed":
        return f"{head}: {count(result.matched)} profiles would be deleted (dry run)"
    return f"{head}: {count(result.deleted_profiles)} profiles deleted in {count(result.batches_done)} batch(es)"


def _finished(result: DeletionResult) -> State:
    """Completed, or Failed for a job that failed (its committed batches stay deleted; `resume` goes on)."""
    data = _published(result)
    if result.status == "failed":
        return Failed(message=f"{outcome(result)}: {result.error}", data=data)
    return Completed(message=outcome(result), data=data)


@flow(name="run-due-deletions", persist_result=False, timeout_seconds=FLOW_TIMEOUT_S["deletion"])
def run_due_deletions() -> list[dict[str, Any]] | State:
    """Carry out the held deletion jobs whose hold is over (`delete-profiles --hold-days`), one after another,
    through the same stages; a job cancelled meanwhile is not due."""
    results = []
    due = d.due_jobs_task()
    log().info("%s held deletion job(s) due", count(len(due)))
    for job_id in due:
        try:
            d.authorize_due_task(job_id)
        except SegpipeError as exc:
            log().warning("deletion job %s stays held: %s", job_id, exc)
            results.append({"job_id": str(job_id), "status": "held", "error": str(exc)})
            continue
        run_stages(job_id)
        results.append(_published(d.result_of(job_id)))
    done = sum(r["status"] == "completed" for r in results)
    return Completed(message=f"{count(len(due))} due deletion job(s): {count(done)} completed", data=results)
