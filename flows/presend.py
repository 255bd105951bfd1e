"""The pre-send refresh of a campaign: refresh its segments, snapshot the audience, check it, mark it ready.

Returns `{campaign, snapshot_id, count, ...}`. A sender that triggered it through the API finds the snapshot by
this flow run's id (`segpipe.audience_snapshots.flow_run_id`) and reads `segpipe.snapshot_members`. A refused
check ends the run Failed with the reason; the snapshot stays `refused` and is never marked ready. An `as_of`
earlier than the segments' live state snapshots an as-of evaluation and refreshes nothing (live membership only
moves forward; see segpipe.refresh.guard).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow
from prefect.runtime import flow_run

from flows import naming
from flows.params import DEFAULT_CONCURRENCY, CampaignKey, Concurrency, MaxChange
from flows.runs import refresh_run
from segpipe.refresh.presend import DEFAULT_MAX_CHANGE, require_refreshed
from tasks import reporting
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
) -> dict[str, Any]:
    """Refresh the campaign's include/exclude segments, then snapshot and check its audience."""
    campaign = load_campaign_task(campaign_key, max_change)
    key = reporting.artifact_key("presend", campaign_key)
    plan = plan_presend_task(campaign, as_of)
    if plan.evaluate:
        snapshot = write_snapshot_task(campaign, plan.as_of, None, flow_run.get_id(), evaluate=True)
    else:
        run = refresh_run(
            campaign.segment_keys,
            plan.as_of,
            trigger="presend",
            concurrency=concurrency,
            report_key=key,
            title="Pre-send",
        )
        require_refreshed(campaign, run)
        snapshot = write_snapshot_task(campaign, run.as_of, run.run_id, flow_run.get_id())
    report = check_snapshot_task(snapshot, allow_empty, max_change)
    reporting.publish_quality(report, key, f"checks of audience snapshot {snapshot.id}")
    result = finish_snapshot_task(snapshot, report)
    reporting.publish_presend(result)
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in result.to_json().items()}
