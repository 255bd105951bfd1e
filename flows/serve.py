"""Serve every deployment in this process, schedules included (`segpipe serve`; or `python -m flows.serve`).

Needs a Prefect API (PREFECT_API_URL or the active profile): flow runs are scheduled and triggered there. What
`prefect.serve` does, in two steps, so that the caller learns when the server holds every deployment (read back
through the client) before the runner starts polling: `segpipe serve` says "serving" only then.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from flows.deployments import runner_deployments

Ready = Callable[[list[str]], None]


def serve_all(limit: int | None = None, on_ready: Ready | None = None) -> None:
    """Register the deployments, confirm each exists on the server, call `on_ready(names)`, then serve until
    interrupted; on shutdown Prefect pauses the schedules it served."""
    from prefect.exceptions import TerminationSignal
    from prefect.runner import Runner

    deployments = runner_deployments()
    runner = Runner(pause_on_shutdown=True, limit=limit)
    for deployment in deployments:
        runner.add_deployment(deployment)
    names = registered(deployments)
    if on_ready is not None:
        on_ready(names)
    try:
        asyncio.run(runner.start())
    except TerminationSignal as exc:
        raise KeyboardInterrupt from exc


def registered(deployments: list[Any]) -> list[str]:
    """`flow/deployment` names of `deployments`, each read back from the server (ObjectNotFound if one is missing)."""
    from prefect import get_client

    names = [f"{d.flow_name}/{d.name}" for d in deployments]
    with get_client(sync_client=True) as client:
        for name in names:
            client.read_deployment_by_name(name)
    return names


if __name__ == "__main__":
    serve_all()
