"""Refresh tasks: plan and open a run, refresh one segment, close the run (the engine's steps, one task each)."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from prefect import task

from segpipe.refresh.engine import (
    RefreshPlan,
    RefreshRunResult,
    SegmentRefreshResult,
    finish_run,
    plan_refresh,
    refresh_segment,
    start_run,
)
from segpipe.refresh.guard import rewind_mode
from tasks import db
from tasks.narration import count, duration, log
from tasks.policy import db_task


@dataclass(frozen=True)
class PlannedRun:
    plan: RefreshPlan
    run_id: int


@task(name="plan-refresh", **db_task("refresh", run_name="plan refresh ({trigger})"))
def plan_refresh_task(
    keys: list[str] | None,
    as_of: datetime | None,
    trigger: str,
    flow_run_id: str | None = None,
    force: bool = False,
    rewind: bool = False,
) -> PlannedRun:
    """Plan (None: refresh-all) and record the run with its queued and skipped segments, in one transaction;
    a rewind without `rewind` is refused (exit 3), the scheduled refresh skips it."""
    with db.engine().begin() as conn:
        plan = plan_refresh(conn, keys, as_of, rewind=rewind_mode(rewind, trigger))
        run_id = start_run(conn, plan, trigger, flow_run_id, force=force)
    log().info(
        "refresh run %s (%s) as of %s: %s segment(s) planned in %s wave(s), %s skipped%s",
        run_id,
        trigger,
        plan.as_of.isoformat(),
        count(len(plan.segments)),
        len(plan.waves),
        count(len(plan.skipped)),
        f", rewinding {', '.join(plan.rewound)}" if plan.rewound else "",
    )
    for skipped in plan.skipped:
        log().info("%s: skipped (%s)", skipped.key, skipped.reason)
    return PlannedRun(plan, run_id)


@task(name="refresh-segment", **db_task(run_name="refresh {key}", tagged=False))
def refresh_segment_task(
    run_id: int, key: str, as_of: datetime, force: bool = False, accept_drop: bool = False
) -> SegmentRefreshResult:
    """One segment of a run; a transient fault is recorded, then raised so that Prefect retries it."""
    result = refresh_segment(
        db.engine(), run_id, key, as_of, force=force, raise_transient=True, accept_drop=accept_drop
    )
    log().log(logging.WARNING if result.status in ("failed", "held") else logging.INFO, "%s", describe(result))
    return result


def describe(result: SegmentRefreshResult) -> str:
    """One line: `de: succeeded (incremental, 310 profiles evaluated), 2,459 members (+12 / -3) in 120 ms: …`."""
    mode, evaluated = result.mode, result.evaluated
    decided = ", ".join(filter(None, [mode, None if evaluated is None else f"{count(evaluated)} profiles evaluated"]))
    text = f"{result.key}: {result.status}" + (f" ({decided})" if decided else "")
    if result.member_count is not None:
        text += f", {count(result.member_count)} members (+{count(result.added or 0)} / -{count(result.removed or 0)})"
    if result.duration_ms is not None:
        text += f" in {duration(result.duration_ms)}"
    note = result.error or result.reason
    return f"{text}: {note}" if note else text


@task(name="finish-refresh", **db_task("refresh", run_name="finish refresh run {run_id}"))
def finish_run_task(run_id: int) -> RefreshRunResult:
    with db.engine().begin() as conn:
        result = finish_run(conn, run_id)
    statuses = Counter(s.status for s in result.segments)
    log().info(
        "refresh run %s closed: %s", run_id, ", ".join(f"{n:,} {k}" for k, n in sorted(statuses.items())) or "empty"
    )
    return result
