"""Task defaults: retries for transient database faults only, tags, no result caching; flow timeouts.

`segpipe.errors.is_transient` is the only retry policy: the engine classifies every driver error once, where it
happens (`segpipe.db.driver_errors`), so a lost connection, a serialization failure, a deadlock or an administrator
shutdown (`TransientDbError`) is retried; invalid input, a refused safety gate, a violated constraint or any other
error fails at once.
"""

from __future__ import annotations

from typing import Any

from prefect.cache_policies import NO_CACHE

from segpipe.errors import is_transient

RETRIES = 3
RETRY_DELAYS_S = [1, 4, 10]
TAGS = ("segpipe",)
FLOW_TIMEOUT_S = {"refresh": 6 * 3600, "presend": 2 * 3600, "classify": 3600, "deletion": 24 * 3600}
"""Flow-level timeouts. Tasks have none: they run in worker threads, where Prefect cannot interrupt a blocking
database call (it warns on every run); a runaway statement is Postgres's to stop (`statement_timeout`)."""


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect's `retry_condition_fn`: retry only when the failure is a transient database fault.

    Must stay a plain function: Prefect calls it only when `inspect.isfunction` says so.
    """
    failure = state.data if isinstance(state.data, BaseException) else None
    if failure is None:
        try:
            state.result()
        except Exception as exc:  # noqa: BLE001 - the state's own exception, classified below
            failure = exc
    return failure is not None and is_transient(failure)


def db_task(*tags: str, run_name: str | None = None, tagged: bool = True) -> dict[str, Any]:
    """Keyword arguments for `@task` of a task that talks to Postgres.

    `tagged=False` for tasks that run once per segment: Prefect makes two API calls per tagged task run (tag
    concurrency slots, acquired and released even when no limit exists), about 20 ms here (BENCHMARKS.md).
    """
    options: dict[str, Any] = {
        "retries": RETRIES,
        "retry_delay_seconds": RETRY_DELAYS_S,
        "retry_condition_fn": retry_transient,
        "tags": [*TAGS, *tags] if tagged else [],
        "cache_policy": NO_CACHE,
        "persist_result": False,
    }
    if run_name is not None:
        options["task_run_name"] = run_name
    return options
