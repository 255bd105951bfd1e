"""Refresh flows: refresh-all, refresh-segments (the Refresh button) and the scheduled refresh.

Each returns its run (`run_id`, `as_of`, one object per segment); a run with a failed or held segment ends
`Failed` in Prefect (a held one with the same `refresh held: …` message as the CLI), with the same data as its
result.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime

from prefect import flow
from prefect.states import Completed, Failed, State

from flows import naming
from flows.params import DEFAULT_CONCURRENCY, Concurrency, SegmentKeys
from flows.runs import refresh_run
from segpipe.refresh.engine import RefreshRunResult
from tasks.lifecycle import apply_due_schedules_task
from tasks.locks import exclusive
from tasks.narration import count, end_refused, log
from tasks.policy import FLOW_TIMEOUT_S


def run_state(result: RefreshRunResult) -> State:
    """Completed, or Failed naming the failed (or held) segments; the run's payload is the state's result.

    The message says what happened: `refresh run 12 as of …: 3 succeeded, 1 skipped; 2,459 members (+12 / -3)`."""
    payload = result.to_json()
    if result.failed:
        state: State = Failed(message=f"refresh failed for {', '.join(result.failed)}", data=payload)
    elif result.held:
        state = Failed(message=result.held_message(), data=payload)
    else:
        state = Completed(message=summary_line(result), data=payload)
    log().log(logging.INFO if state.is_completed() else logging.WARNING, "%s", state.message)
    return state


def summary_line(result: RefreshRunResult) -> str:
    statuses = Counter(s.status for s in result.segments)
    done = ", ".join(f"{count(n)} {status}" for status, n in sorted(statuses.items())) or "nothing to refresh"
    stored = [s for s in result.segments if s.member_count is not None]
    members = sum(s.member_count or 0 for s in stored)
    added, removed = sum(s.added or 0 for s in stored), sum(s.removed or 0 for s in stored)
    changes = f"; {count(members)} members (+{count(added)} / -{count(removed)})" if stored else ""
    return f"refresh run {result.run_id} as of {result.as_of.isoformat()}: {done}{changes}"


@flow(
    name="refresh-all",
    flow_run_name=naming.refresh_all_name,
    persist_result=False,
    timeout_seconds=FLOW_TIMEOUT_S["refresh"],
)
def refresh_all(
    as_of: datetime | None = None,
    force: bool = False,
    concurrency: Concurrency = DEFAULT_CONCURRENCY,
    trigger: str = "flow",
    rewind: bool = False,
) -> State:
    """Every active segment, plus archived ones a consumer references (and their dependencies); the others are
    recorded as skipped. An `as_of` earlier than a segment's live state is refused unless `rewind`."""

    def body() -> State:
        result = refresh_run(
            None, as_of, trigger=trigger, concurrency=concurrency, force=force, title="Refresh all", rewind=rewind
        )
        return run_state(result)

    return end_refused(body)


@flow(
    name="refresh-segments",
    flow_run_name=naming.refresh_segments_name,
    persist_result=False,
    timeout_seconds=FLOW_TIMEOUT_S["refresh"],
)
def refresh_segments(
    keys: SegmentKeys,
    as_of: datetime | None = None,
    force: bool = False,
    concurrency: Concurrency = DEFAULT_CONCURRENCY,
    trigger: str = "flow",
    accept_drop: bool = False,
    rewind: bool = False,
) -> State:
    """The named segments (whatever their status) and their stale dependencies. `accept_drop` publishes the
    named segments' refreshes that the count gate would hold; `rewind` allows an as_of earlier than live state."""

    def body() -> State:
        result = refresh_run(
            list(keys),
            as_of,
            trigger=trigger,
            concurrency=concurrency,
            force=force,
            title="Refresh segments",
            accept_drop=accept_drop,
            rewind=rewind,
        )
        return run_state(result)

    return end_refused(body)


SCHEDULED_LOCK = "scheduled-refresh"


@flow(
    name="scheduled-refresh",
    flow_run_name=naming.scheduled_refresh_name,
    persist_result=False,
    timeout_seconds=FLOW_TIMEOUT_S["refresh"],
)
def scheduled_refresh(concurrency: Concurrency = DEFAULT_CONCURRENCY) -> State:
    """Due schedules, then refresh-all. Never piles up: while a previous scheduled refresh still runs (it holds the
    advisory lock `scheduled-refresh`), this run is skipped at once: it ends Completed, named `Skipped`. Never
    rewinds: a segment refreshed for a later time (and its dependents) is skipped, `not rewound`."""
    with exclusive(SCHEDULED_LOCK) as held:
        if not held:
            log().info("skipped: a previous scheduled refresh is still running")
            return Completed(name="Skipped", message="a previous scheduled refresh is still running", data=None)
        return end_refused(lambda: _scheduled(concurrency))


def _scheduled(concurrency: int) -> State:
    """Due schedules, then every segment (the caller holds the scheduled-refresh lock)."""
    apply_due_schedules_task()
    result = refresh_run(
        None, None, trigger="schedule", concurrency=concurrency, report_key="scheduled-refresh", title="Scheduled"
    )
    return run_state(result)
