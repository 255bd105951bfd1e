"""Pre-send tasks: the campaign, the snapshot, its Great Expectations checks, and its final status."""

from __future__ import annotations

from datetime import datetime

from prefect import task

from segpipe.quality import QualityReport
from segpipe.refresh.presend import (
    Campaign,
    PresendPlan,
    PresendResult,
    Snapshot,
    check_options,
    check_snapshot,
    finish_snapshot,
    load_campaign,
    plan_presend,
    require_sendable,
    write_snapshot,
)
from tasks import db
from tasks.policy import db_task


@task(name="load-campaign", **db_task("presend", run_name="campaign {campaign_key}"))
def load_campaign_task(campaign_key: str, max_change: float) -> Campaign:
    """The campaign, refused (exit 3) when it was sent or cancelled; bad options are invalid input (exit 2)."""
    check_options(max_change)
    with db.engine().begin() as conn:
        campaign = load_campaign(conn, campaign_key)
    require_sendable(campaign)
    return campaign


@task(name="plan-presend", **db_task("presend", run_name="plan presend {campaign.key}"))
def plan_presend_task(campaign: Campaign, as_of: datetime | None) -> PresendPlan:
    """The pre-send's as_of, and whether it evaluates the past (earlier than live state) instead of refreshing."""
    with db.engine().begin() as conn:
        return plan_presend(conn, campaign, as_of)


@task(name="write-snapshot", **db_task("presend", run_name="snapshot {campaign.key}"))
def write_snapshot_task(
    campaign: Campaign,
    as_of: datetime,
    refresh_run_id: int | None,
    flow_run_id: str | None = None,
    evaluate: bool = False,
) -> Snapshot:
    return write_snapshot(
        db.engine(), campaign, as_of, refresh_run_id=refresh_run_id, flow_run_id=flow_run_id, evaluate=evaluate
    )


@task(name="check-snapshot", **db_task("presend", "quality", run_name="check snapshot {snapshot.id}"))
def check_snapshot_task(snapshot: Snapshot, allow_empty: bool, max_change: float) -> QualityReport:
    return check_snapshot(db.engine(), snapshot, allow_empty, max_change)


@task(name="finish-snapshot", **db_task("presend", run_name="finish snapshot {snapshot.id}"))
def finish_snapshot_task(snapshot: Snapshot, report: QualityReport) -> PresendResult:
    """`ready`, or `refused` with GateRefused (never retried: a refusal is not a fault)."""
    return finish_snapshot(db.engine(), snapshot, report)
