"""One refresh run as tasks: plan, then every planned segment as soon as its dependencies are done (at most
`concurrency` at once), then close the run; artifacts and events as segments finish.

Shared by the refresh, pre-send and classify flows. A failed segment's dependents still run their task, which
records them `skipped` (the engine reads the run's records), so no state is kept here but the futures.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from prefect.futures import PrefectFuture, as_completed
from prefect.runtime import flow_run

from flows import progress
from segpipe.refresh.engine import PlannedSegment, RefreshRunResult, SegmentRefreshResult
from segpipe.refresh.membership import describe_error
from tasks import reporting
from tasks.refresh import PlannedRun, finish_run_task, plan_refresh_task, refresh_segment_task


def refresh_run(
    keys: list[str] | None,
    as_of: datetime | None,
    *,
    trigger: str,
    concurrency: int,
    force: bool = False,
    report_key: str = "refresh",
    title: str = "Refresh",
    accept_drop: bool = False,
    rewind: bool = False,
) -> RefreshRunResult:
    """Refresh `keys` (None: refresh-all) and their stale dependencies in one run; returns what each segment did.

    `accept_drop` publishes the requested segments' drops the count gate would hold; `rewind` allows an as_of
    earlier than live state (segpipe.refresh.guard)."""
    run_id = flow_run.get_id()
    planned = plan_refresh_task(sorted(keys) if keys is not None else None, as_of, trigger, run_id, force, rewind)
    segments = planned.plan.segments
    bar = progress.current()
    artifact = reporting.ProgressReport(len(segments), reporting.artifact_key(report_key, "progress"), title)
    bar.start(len(segments), "refresh")
    try:
        for result in _run_segments(planned, force, concurrency, accept_drop):
            reporting.segment_event(result, planned.run_id, planned.plan.as_of, trigger, bool(planned.plan.rewound))
            artifact.advance()
            bar.advance(1, result.key)
    finally:
        bar.finish()
        result_of_run = finish_run_task(planned.run_id)
    reporting.publish_refresh(result_of_run, report_key, title)
    return result_of_run


def _run_segments(
    planned: PlannedRun, force: bool, concurrency: int, accept_drop: bool
) -> Iterator[SegmentRefreshResult]:
    """Submit each segment once its dependencies finished (whatever their outcome); yield results as they come."""
    waiting = list(planned.plan.segments)
    keys = {s.key for s in waiting}
    finished: set[str] = set()
    running: dict[PrefectFuture[SegmentRefreshResult], str] = {}
    while waiting or running:
        ready = [s for s in waiting if _deps(s, keys) <= finished]
        for segment in ready[: max(concurrency - len(running), 0)]:
            waiting.remove(segment)
            accept = accept_drop and segment.requested
            future = refresh_segment_task.submit(planned.run_id, segment.key, planned.plan.as_of, force, accept)
            running[future] = segment.key
        if not running:
            raise RuntimeError(f"refresh plan cannot proceed: {[s.key for s in waiting]} wait on each other")
        done = next(as_completed(list(running)))
        key = running.pop(done)
        finished.add(key)
        yield _outcome(done, key)


def _deps(segment: PlannedSegment, planned: set[str]) -> set[str]:
    return set(segment.depends_on) & planned


def _outcome(future: PrefectFuture[SegmentRefreshResult], key: str) -> SegmentRefreshResult:
    """The task's result; a task that raised (retries exhausted) was recorded `failed` by the engine already.

    `result()`, not `state`: a done future's state is only known locally once its result was taken (else Prefect
    asks the API, which may not have recorded it yet).
    """
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - reported as the segment's failure, the run goes on
        return SegmentRefreshResult(key, "failed", error=describe_error(exc))
