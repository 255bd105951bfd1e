"""End to end, as an external campaign sender: `segpipe serve` serves the deployments; the sender creates a
`presend` flow run over the REST API, polls it to completion and reads the snapshot from Postgres."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import sqlalchemy as sa

from tests.flows.helpers import AUDIENCE, snapshot_members, wait_for

TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def _deployment_id(api_url: str) -> str | None:
    response = httpx.get(f"{api_url}/deployments/name/presend-refresh/presend", timeout=10)
    return response.json()["id"] if response.status_code == 200 else None


def _create_run(api_url: str, deployment_id: str) -> str | None:
    """What a sender does; a 503 (the server's SQLite busy while serve registers its schedules) is retried."""
    url = f"{api_url}/deployments/{deployment_id}/create_flow_run"
    response = httpx.post(url, json={"parameters": {"campaign_key": "bf"}}, timeout=30)
    if response.status_code == 503:
        return None
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _serve(server, db_url: str, home: Path, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        **server.env(),
        "SEGPIPE_DATABASE_URL": db_url,
        "SEGPIPE_HOME": str(home),
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    segpipe = str(Path(sys.executable).with_name("segpipe"))
    with log.open("w") as out:
        return subprocess.Popen(
            [segpipe, "serve"], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    except ProcessLookupError:
        pass


def test_sender_triggers_presend_over_the_rest_api(world, flow_env, db_url, settings, tmp_path):
    log = tmp_path / "serve.log"
    process = _serve(flow_env, db_url, settings.home, log)
    try:
        deployment_id = wait_for(lambda: _deployment_id(flow_env.api_url), 120, f"segpipe serve ({log})")
        flow_run_id = wait_for(lambda: _create_run(flow_env.api_url, deployment_id), 60, "create_flow_run")

        def finished() -> dict | None:
            run = httpx.get(f"{flow_env.api_url}/flow_runs/{flow_run_id}", timeout=10).json()
            return run if run["state"]["type"] in TERMINAL else None

        run = wait_for(finished, 180, "the presend flow run to finish")
        assert run["state"]["type"] == "COMPLETED", (run["state"], log.read_text()[-3000:])
        assert run["name"] == "presend bf"
    finally:
        _stop(process)
    assert process.poll() is not None
    with world.connect() as conn:
        snapshot = conn.execute(
            sa.text("SELECT id, status, member_count FROM segpipe.audience_snapshots WHERE flow_run_id = :f"),
            {"f": flow_run_id},
        ).one()
    assert snapshot.status == "ready" and snapshot.member_count == len(AUDIENCE)
    assert snapshot_members(world, snapshot.id) == AUDIENCE
