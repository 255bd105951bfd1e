"""Lifecycle tasks: due schedules and the inactivity classification, each one transaction."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from prefect import task

from segpipe.lifecycle.classify import ClassifyResult, classify
from segpipe.lifecycle.schedule import ScheduleChange, apply_due_schedules
from tasks import db
from tasks.narration import count, log
from tasks.policy import db_task


@task(name="apply-due-schedules", **db_task("lifecycle", run_name="apply due schedules"))
def apply_due_schedules_task() -> list[ScheduleChange]:
    """Carry out every scheduled activation / deactivation due now (the database's clock)."""
    with db.engine().begin() as conn:
        now = conn.execute(sa.select(sa.func.now())).scalar_one()
        changes = apply_due_schedules(conn, now)
    log().info("%s due schedule(s) applied", count(len(changes)))
    for change in changes:
        log().info(
            "%s: %s due %s (%s → %s)", change.key, change.action, change.due_at, change.old_status, change.status
        )
    return changes


@task(name="classify", **db_task("lifecycle", run_name="classify segments"))
def classify_task(as_of: datetime | None, grace_days: float) -> ClassifyResult:
    with db.engine().begin() as conn:
        result = classify(conn, as_of, timedelta(days=grace_days))
    active = sum(c.status == "active" for c in result.segments)
    log().info(
        "classified %s segment(s) as of %s (grace %s days): %s active, %s inactive, %s changed",
        count(len(result.segments)),
        result.as_of.isoformat(),
        f"{grace_days:g}",
        count(active),
        count(len(result.segments) - active),
        count(len(result.changes)),
    )
    for change in result.changes:
        log().info("%s: %s → %s (%s)", change.key, change.old_status, change.status, change.reason)
    return result
