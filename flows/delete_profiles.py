"""Audited deletion of a segment's profiles, with the approval asked in the Prefect UI when not given upfront.

Plan (permission; the confirmation when given) → freeze the manifest (the segment refreshed now) → preview
(count, sample, rows per table). Without `confirm_name` and `expected`, the run pauses with a form asking for
the segment's exact name and the count shown; no answer within `approval_timeout_s` refuses the job and ends
the run Cancelled. Then the GX gate, one task per batch (a retried batch is a no-op), a progress artifact, verify.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from prefect import flow, get_client
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run
from prefect.states import Cancelled, State
from pydantic import Field

from flows import naming
from flows.params import SegmentKey
from segpipe.deletion import DeletionRequest, DeletionResult, Preview
from segpipe.deletion.plan import DEFAULT_MAX_SHARE
from tasks import reporting
from tasks.deletion import (
    confirm_task,
    delete_batch_task,
    dry_run_task,
    freeze_manifest_task,
    gate_task,
    pending_batches_task,
    plan_deletion_task,
    preview_task,
    refuse_task,
    result_task,
    verify_task,
)
from tasks.policy import FLOW_TIMEOUT_S

APPROVAL_POLL_S = 2


class DeletionApproval(RunInput):
    segment_name: str = Field(description="Type the segment's exact name (case and spaces as shown).")
    expected_count: int = Field(ge=0, description="The number of profiles shown in the preview.")


@flow(
    name="delete-segment-profiles",
    flow_run_name=naming.delete_profiles_name,
    persist_result=False,
    timeout_seconds=FLOW_TIMEOUT_S["deletion"],
)
def delete_segment_profiles(
    segment_key: SegmentKey,
    actor: Annotated[str, Field(min_length=1, description="Who deletes (needs profiles:view and profiles:edit).")],
    confirm_name: Annotated[str | None, Field(description="The segment's exact name; empty: asked later.")] = None,
    expected: Annotated[int | None, Field(ge=0, description="The count you saw; empty: asked later.")] = None,
    dry_run: bool = False,
    batch_size: Annotated[
        int | None, Field(ge=1, description="Profiles deleted per batch (one task each); empty: about 5M rows each.")
    ] = None,
    max_share: Annotated[float, Field(gt=0, le=1, description="Refuse above this share of all profiles.")] = (
        DEFAULT_MAX_SHARE
    ),
    tolerance: Annotated[int, Field(ge=0, description="Accepted difference to the expected count.")] = 0,
    approval_timeout_s: Annotated[int, Field(ge=1, description="How long to wait for the approval.")] = 3600,
) -> dict[str, Any] | State:
    """Delete every profile of the segment, audited; see docs/orchestration.md."""
    confirmed = confirm_name is not None and expected is not None
    request = DeletionRequest(
        segment_key=segment_key,
        actor=actor,
        expected=expected if confirmed else None,
        confirm=confirm_name if confirmed else None,
        dry_run=dry_run,
        batch_size=batch_size,
        max_share=max_share,
        tolerance=tolerance,
    )
    job_id = plan_deletion_task(request)
    freeze_manifest_task(job_id)
    shown = preview_task(job_id)
    reporting.publish_markdown(preview_markdown(shown), f"deletion-{job_id}-preview", "what would be deleted")
    if not confirmed and not _approved(job_id, shown, approval_timeout_s):
        return _cancelled(refuse_task(job_id, "confirmation", f"no approval within {approval_timeout_s} s"))
    if dry_run:
        return _published(dry_run_task(job_id))
    gate_task(job_id)
    _delete_batches(job_id)
    verify_task(job_id)
    return _published(result_task(job_id))


def _approved(job_id: uuid.UUID, shown: Preview, timeout_s: int) -> bool:
    """Pause for the approval form; a given answer is checked by `confirm_deletion` (a wrong name refuses)."""
    form = DeletionApproval.with_initial_data(description=preview_markdown(shown), segment_name="", expected_count=0)
    try:
        approval = pause_flow_run(wait_for_input=form, timeout=timeout_s, poll_interval=APPROVAL_POLL_S)
    except FlowPauseTimeout:
        return False
    confirm_task(job_id, approval.segment_name, approval.expected_count)
    return True


def _cancelled(message: str) -> State:
    """End the run Cancelled. After a pause timed out the server turns any other transition into Failed
    ("paused and never resumed"), so the state is forced first."""
    state = Cancelled(message=message)
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(flow_run.get_id(), state, force=True)
    return state


def _delete_batches(job_id: uuid.UUID) -> None:
    batches = pending_batches_task(job_id)
    progress = reporting.ProgressReport(len(batches), f"deletion-{job_id}-progress", "batches deleted")
    for batch_no in batches:
        delete_batch_task(job_id, batch_no)
        progress.advance()


def _published(result: DeletionResult) -> dict[str, Any]:
    data = result.to_dict()
    rows = [{"table": table, "rows": count} for table, count in sorted(result.tables.items())]
    reporting.publish_table(rows or [{"table": "-", "rows": 0}], f"deletion-{result.job_id}-tables", result.status)
    return data


def preview_markdown(shown: Preview) -> str:
    """The preview artifact and approval form: counts only. Both outlive the deletion in Prefect, so they hold no
    external id (the CLI's `--dry-run` shows a sample on the terminal)."""
    tables = "\n".join(f"| {name} | {count:,} |" for name, count in sorted(shown.tables.items()))
    return (
        f"# Delete {shown.count:,} profiles of segment `{shown.segment_key}` ({shown.segment_name})\n\n"
        f"Job `{shown.job_id}`. A sample of external ids: `segpipe delete-profiles ... --dry-run`.\n\n"
        f"| table | rows |\n|---|---|\n{tables}\n\n"
        "To approve, type the segment's exact name and this count. Message activity is anonymized, not deleted.\n"
    )
