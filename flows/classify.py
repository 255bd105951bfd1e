"""The inactivity classification as a flow (daily in prefect.yaml): due schedules, classify, then refresh the
segments a scheduled activation made active. Each status change emits `segpipe.segment.inactive` or
`segpipe.segment.active` (tasks.events)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from prefect import flow
from prefect.states import Completed, State
from pydantic import Field

from flows import naming
from flows.params import DEFAULT_CONCURRENCY, Concurrency
from flows.runs import refresh_run
from segpipe.lifecycle.classify import DEFAULT_GRACE, ClassifyResult
from tasks import events, reporting
from tasks.lifecycle import classify_task
from tasks.narration import count, end_refused, log
from tasks.policy import FLOW_TIMEOUT_S

GraceDays = Annotated[float, Field(ge=0, description="Days without live use before a segment becomes inactive.")]


@flow(
    name="classify-inactive",
    flow_run_name=naming.classify_name,
    persist_result=False,
    timeout_seconds=FLOW_TIMEOUT_S["classify"],
)
def classify_inactive(
    as_of: datetime | None = None,
    grace_days: GraceDays = DEFAULT_GRACE.days,
    concurrency: Concurrency = DEFAULT_CONCURRENCY,
) -> list[dict[str, Any]] | State:
    """Mark segments in live use active and those without live use for the grace period inactive."""
    return end_refused(lambda: _classify(as_of, grace_days, concurrency))


def _classify(as_of: datetime | None, grace_days: float, concurrency: int) -> State:
    result = classify_task(as_of, grace_days)
    for change in result.changes:
        events.classification_changed(change)
    if result.refresh_keys:
        log().info("refreshing %s segment(s) a schedule activated", count(len(result.refresh_keys)))
        refresh_run(
            result.refresh_keys,
            as_of,
            trigger="schedule",
            concurrency=concurrency,
            report_key="classify-refresh",
            title="Activated",
        )
    rows = [c.to_json() for c in result.segments]
    _publish(result, rows)
    data = [{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()} for row in rows]
    return Completed(message=_message(result), data=data)


def _message(result: ClassifyResult) -> str:
    active = sum(c.status == "active" for c in result.segments)
    changed = ", ".join(f"{c.key} → {c.status}" for c in result.changes[:5]) or "no change"
    more = f" and {len(result.changes) - 5} more" if len(result.changes) > 5 else ""
    return (
        f"{count(len(result.segments))} segment(s) as of {result.as_of.isoformat()}: {count(active)} active, "
        f"{count(len(result.segments) - active)} inactive; {changed}{more}"
    )


def _publish(result: ClassifyResult, rows: list[dict[str, Any]]) -> None:
    changed = [row for row in rows if row["changed"]]
    table = [{"segment": r["key"], "was": r["old_status"], "now": r["status"], "reason": r["reason"]} for r in changed]
    reporting.publish_table(
        table or [{"changes": "none"}], "classify-changes", f"classification as of {result.as_of.isoformat()}"
    )
    active = sum(row["status"] == "active" for row in rows)
    lines = [
        f"# Classification as of `{result.as_of.isoformat()}`",
        "",
        f"{count(len(rows))} segment(s): {count(active)} active, {count(len(rows) - active)} inactive; "
        f"{count(len(changed))} changed; {count(len(result.schedules))} due schedule(s) applied.",
    ]
    for status in ("inactive", "active"):
        keys = [f"`{r['key']}`" for r in changed if r["status"] == status]
        if keys:
            lines += ["", f"**Became {status}:** {', '.join(keys)}"]
    reporting.publish_markdown("\n".join(lines) + "\n", "classify-summary", "classification")
