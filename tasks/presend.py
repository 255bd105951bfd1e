"""Pre-send tasks: the campaign, the snapshot, its Great Expectations checks, and its final status."""

from __future__ import annotations

import time
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
from tasks.narration import count, duration, log, plain, words
from tasks.policy import db_task


@task(name="load-campaign", **db_task("presend", run_name="campaign {campaign_key}"))
def load_campaign_task(campaign_key: str, max_change: float) -> Campaign:
    """The campaign, refused (exit 3) when it was sent or cancelled; bad options are invalid input (exit 2)."""
    check_options(max_change)
    with db.engine().begin() as conn:
        campaign = load_campaign(conn, campaign_key)
    log().info(
        "campaign %s (%s, %s): include %s; exclude %s",
        campaign.key,
        campaign.status,
        campaign.channel,
        ", ".join(campaign.include) or "nothing",
        ", ".join(campaign.exclude) or "nothing",
    )
    require_sendable(campaign)
    return campaign


@task(name="plan-presend", **db_task("presend", run_name="plan presend {campaign.key}"))
def plan_presend_task(campaign: Campaign, as_of: datetime | None) -> PresendPlan:
    """The pre-send's as_of, and whether it evaluates the past (earlier than live state) instead of refreshing."""
    with db.engine().begin() as conn:
        plan = plan_presend(conn, campaign, as_of)
    decision = "as-of evaluation (earlier than live state)" if plan.evaluate else "refresh, then snapshot"
    log().info("pre-send of %s as of %s: %s", campaign.key, plan.as_of.isoformat(), decision)
    return plan


@task(name="write-snapshot", **db_task("presend", run_name="snapshot {campaign.key}"))
def write_snapshot_task(
    campaign: Campaign,
    as_of: datetime,
    refresh_run_id: int | None,
    flow_run_id: str | None = None,
    evaluate: bool = False,
) -> Snapshot:
    started = time.perf_counter()
    snapshot = write_snapshot(
        db.engine(), campaign, as_of, refresh_run_id=refresh_run_id, flow_run_id=flow_run_id, evaluate=evaluate
    )
    previous = (
        f"previous ready snapshot {snapshot.previous_id}: {count(snapshot.previous_count)}"
        if snapshot.previous_id
        else "no previous ready snapshot"
    )
    took = duration((time.perf_counter() - started) * 1000)
    log().info("snapshot %s written: %s members in %s (%s)", snapshot.id, count(snapshot.member_count), took, previous)
    return snapshot


@task(name="check-snapshot", **db_task("presend", "quality", run_name="check snapshot {snapshot.id}"))
def check_snapshot_task(snapshot: Snapshot, allow_empty: bool, max_change: float) -> QualityReport:
    report = check_snapshot(db.engine(), snapshot, allow_empty, max_change)
    log().info(
        "checks of snapshot %s: %s passed, %s failed, %s warning(s)",
        snapshot.id,
        sum(c.success for c in report.checks),
        len(report.failed),
        len(report.warnings),
    )
    for check in report.checks:
        verdict = "passed" if check.success else "FAILED" if check.blocking else "warning"
        log().info("%s %s: expected %s, observed %s", check.name, verdict, words(check.expected), plain(check.observed))
    return report


@task(name="finish-snapshot", **db_task("presend", run_name="finish snapshot {snapshot.id}"))
def finish_snapshot_task(snapshot: Snapshot, report: QualityReport) -> PresendResult:
    """`ready`, or `refused` with GateRefused (never retried: a refusal is not a fault)."""
    result = finish_snapshot(db.engine(), snapshot, report)
    log().info("snapshot %s %s", result.snapshot_id, result.status)
    return result
