"""Lifecycle tasks: due schedules and the inactivity classification, each one transaction."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from prefect import task

from segpipe.lifecycle.classify import ClassifyResult, classify
from segpipe.lifecycle.schedule import ScheduleChange, apply_due_schedules
from tasks import db
from tasks.policy import db_task


@task(name="apply-due-schedules", **db_task("lifecycle", run_name="apply due schedules"))
def apply_due_schedules_task() -> list[ScheduleChange]:
    """Carry out every scheduled activation / deactivation due now (the database's clock)."""
    with db.engine().begin() as conn:
        now = conn.execute(sa.select(sa.func.now())).scalar_one()
        return apply_due_schedules(conn, now)


@task(name="classify", **db_task("lifecycle", run_name="classify segments"))
def classify_task(as_of: datetime | None, grace_days: float) -> ClassifyResult:
    with db.engine().begin() as conn:
        return classify(conn, as_of, timedelta(days=grace_days))
