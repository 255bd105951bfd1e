"""The pinned Prefect works here: a flow runs, and a cron deployment gets scheduled runs from the scheduler."""

from __future__ import annotations

import time

import httpx
from prefect import flow


@flow(name="segpipe-smoke")
def smoke(x: int = 1) -> int:
    return x + 1


def test_a_flow_runs(prefect_server):
    assert smoke(2) == 3


def test_cron_deployment_gets_scheduled_runs(prefect_server):
    deployment_id = smoke.to_deployment(name="smoke-cron", cron="* * * * *").apply()
    runs: list = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not runs:
        response = httpx.post(
            f"{prefect_server.api_url}/flow_runs/filter",
            json={"deployments": {"id": {"any_": [str(deployment_id)]}}},
            timeout=10,
        )
        runs = response.json()
        time.sleep(0.5)
    assert runs, "the scheduler created no run for a cron deployment"
    assert {r["state"]["type"] for r in runs} == {"SCHEDULED"}
