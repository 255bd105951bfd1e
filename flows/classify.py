"""The inactivity classification as a flow (daily in prefect.yaml): due schedules, classify, then refresh the
segments a scheduled activation made active."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from prefect import flow
from pydantic import Field

from flows import naming
from flows.params import DEFAULT_CONCURRENCY, Concurrency
from flows.runs import refresh_run
from segpipe.lifecycle.classify import DEFAULT_GRACE
from tasks import reporting
from tasks.lifecycle import classify_task
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
) -> list[dict[str, Any]]:
    """Mark segments in live use active and those without live use for the grace period inactive."""
    result = classify_task(as_of, grace_days)
    if result.refresh_keys:
        keys = result.refresh_keys
        refresh_run(
            keys, as_of, trigger="schedule", concurrency=concurrency, report_key="classify-refresh", title="Activated"
        )
    rows = [c.to_json() for c in result.segments]
    changed = [row for row in rows if row["changed"]]
    reporting.publish_table(
        [{k: str(v) for k, v in row.items()} for row in changed] or [{"changes": "none"}],
        "classify-changes",
        f"classification as of {result.as_of.isoformat()}",
    )
    active = sum(row["status"] == "active" for row in rows)
    summary = (
        f"# Classification as of `{result.as_of.isoformat()}`\n\n{len(rows)} segment(s): {active} active, "
        f"{len(rows) - active} inactive; {len(changed)} changed; {len(result.schedules)} due schedule(s) applied.\n"
    )
    reporting.publish_markdown(summary, "classify-summary", "classification")
    return [{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()} for row in rows]
