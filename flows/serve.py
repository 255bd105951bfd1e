"""Serve every deployment in this process, schedules included (`segpipe serve`; or `python -m flows.serve`).

Needs a Prefect API (PREFECT_API_URL or the active profile): flow runs are scheduled and triggered there.
"""

from __future__ import annotations

from prefect import serve

from flows.deployments import runner_deployments


def serve_all(limit: int | None = None) -> None:
    """Blocks until interrupted; on shutdown Prefect pauses the schedules it served."""
    serve(*runner_deployments(), limit=limit, print_starting_message=True)


if __name__ == "__main__":
    serve_all()
