"""The pre-send refresh of a campaign: refresh its segments, snapshot the audience, check it, mark it ready.

Returns `{campaign, snapshot_id, count, ..., checks}`. A sender that triggered it through the API finds the snapshot
by this flow run's id (`segpipe.audience_snapshots.flow_run_id`) and reads `segpipe.snapshot_members`. A refused
check ends the run Failed with the reason (one line, no traceback) and emits `segpipe.audience.snapshot-refused`;
the snapshot stays `refused` and is never marked ready. An `as_of` earlier than the segments' live state snapshots
an as-of evaluation and refreshes nothing (live membership only moves forward; see segpipe.refresh.guard).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow
from prefect.runtime import flow_run
from prefect.states import Completed, State

from flows import naming
from flows.params import DEFAULT_CONCURRENCY, CampaignKey, Concurrency, MaxChange
from flows.runs import refresh_run
from segpipe.refresh.presend import DEFAULT_MAX_CHANGE, Campaign, Snapshot, require_refreshed
from tasks import events, reporting
from tasks.narration import count, end_refused, log
from tasks.policy import FLOW_TIMEOUT_S
from tasks.presend import (
    check_snapshot_task,
    finish_snapshot_task,
    load_campaign_task,
    plan_presend_task,
    write_snapshot_task,
)


@flow(
    name="presend-refresh",
    flow_run_name=naming.presend_name,
    persist_result=False,
    timeout_seconds=FLOW_TIMEOUT_S["presend"],
)
def presend_refresh(
    campaign_key: CampaignKey,
    as_of: datetime | None = None,
    allow_empty: bool = False,
    max_change: MaxChange = DEFAULT_MAX_CHANGE,
    concurrency: Concurrency = DEFAULT_CONCURRENCY,
) -> dict[str, Any] | State:
    """Refresh the campaign's include/exclude segments, then snapshot and check its audience."""
    return end_refused(
        lambda: _presend(campaign_key, as_of, allow_empty, max_change, concurrency),
        lambda exc: events.snapshot_refused(campaign_key, exc),
    )


def _presend(
    campaign_key: str, as_of: datetime | None, allow_empty: bool, max_change: float, concurrency: int
) -> State:
    campaign = load_campaign_task(campaign_key, max_change)
    snapshot = _snapshot(campaign, as_of, concurrency)
    report = check_snapshot_task(snapshot, allow_empty, max_change)
    key = reporting.artifact_key("presend", campaign_key)
    reporting.publish_quality(report, key, f"checks of audience snapshot {snapshot.id}")
    result = finish_snapshot_task(snapshot, report)
    reporting.publish_presend(result)
    data = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in result.to_json().items()}
    message = f"snapshot {result.snapshot_id}: {count(result.count)} members of {campaign_key} as of {data['as_of']}"
    log().info("%s (%s)", message, result.status)
    return Completed(message=message, data=data)


def _snapshot(campaign: Campaign, as_of: datetime | None, concurrency: int) -> Snapshot:
    """Refresh the audience's segments and snapshot it, or (as_of earlier than live state) evaluate it there."""
    plan = plan_presend_task(campaign, as_of)
    if plan.evaluate:
        log().info("as of %s is earlier than live state: evaluating the audience, refreshing nothing", plan.as_of)
        return write_snapshot_task(campaign, plan.as_of, None, flow_run.get_id(), evaluate=True)
    key = reporting.artifact_key("presend", campaign.key)
    run = refresh_run(
        list(campaign.segment_keys),
        plan.as_of,
        trigger="presend",
        concurrency=concurrency,
        report_key=key,
        title="Pre-send",
    )
    require_refreshed(campaign, run)
    return write_snapshot_task(campaign, run.as_of, run.run_id, flow_run.get_id())
