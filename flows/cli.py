"""What the CLI calls when it runs a flow in its own process (imported lazily, only by commands that run one).

The flow runs against the configured Prefect API, so the run shows in the UI; its result comes back as the same
objects the direct path returns, so the output is identical.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from flows.progress import reporting_to
from flows.refresh import refresh_all, refresh_segments
from segpipe.progress import NullProgress, Progress
from segpipe.refresh.engine import RefreshRunResult


def _data(state: Any) -> Any:
    """The flow's result; a flow that failed with an exception re-raises it here (exit codes come from it)."""
    data = state.result(raise_on_failure=False)
    if isinstance(data, BaseException):
        raise data
    if data is None and not state.is_completed():
        raise RuntimeError(state.message or f"flow run ended {state.name}")
    return data


def refresh(
    keys: Iterable[str] | None,
    as_of: datetime | None,
    *,
    trigger: str,
    force: bool,
    progress: Progress | None = None,
    accept_drop: bool = False,
    rewind: bool = False,
) -> RefreshRunResult:
    options: dict[str, Any] = {"as_of": as_of, "force": force, "trigger": trigger, "rewind": rewind}
    with reporting_to(progress or NullProgress()):
        if keys is None:
            state = refresh_all(**options, return_state=True)
        else:
            state = refresh_segments(keys=list(keys), accept_drop=accept_drop, **options, return_state=True)
    return RefreshRunResult.from_json(_data(state))


def presend(
    campaign_key: str,
    as_of: datetime | None,
    *,
    allow_empty: bool,
    max_change: float,
    progress: Progress | None = None,
) -> dict[str, Any]:
    from flows.presend import presend_refresh

    with reporting_to(progress or NullProgress()):
        state = presend_refresh(
            campaign_key=campaign_key, as_of=as_of, allow_empty=allow_empty, max_change=max_change, return_state=True
        )
    return _data(state)
