"""`segpipe serve` says it is serving only once every deployment exists on the server (issue 13.7)."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import httpx

from flows.deployments import DEPLOYMENTS
from tests.flows.helpers import wait_for
from tests.flows.test_api_e2e import _stop


def _first_line(process: subprocess.Popen, timeout_s: float) -> str:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(process.stdout.readline()), daemon=True).start()
    return lines.get(timeout=timeout_s)


def _serve(server, db_url: str, home: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, **server.env(), "SEGPIPE_DATABASE_URL": db_url, "SEGPIPE_HOME": str(home)}
    segpipe = str(Path(sys.executable).with_name("segpipe"))
    return subprocess.Popen(
        [segpipe, "serve", "--no-catalog", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )


def _existing(api_url: str) -> set[str]:
    found = httpx.post(f"{api_url}/deployments/filter", json={}, timeout=10).json()
    return {d["name"] for d in found}


def _delete_deployments(api_url: str) -> None:
    """Earlier tests may have served them already: start from none, so that "serving" has something to wait on."""

    def deleted() -> bool:
        for deployment in httpx.post(f"{api_url}/deployments/filter", json={}, timeout=10).json():
            response = httpx.delete(f"{api_url}/deployments/{deployment['id']}", timeout=10)
            if response.status_code == 503:  # the server's SQLite busy: try again
                return False
            response.raise_for_status()
        return not _existing(api_url)

    wait_for(deleted, 60, "the deployments to be deleted")


def test_serve_reports_ready_once_every_deployment_exists(world, flow_env, db_url, settings):
    _delete_deployments(flow_env.api_url)
    process = _serve(flow_env, db_url, settings.home, "--json")
    try:
        data = json.loads(_first_line(process, 120))
        present = _existing(flow_env.api_url)  # read right after "serving": nothing may be missing
    finally:
        _stop(process)
    assert data["status"] == "serving" and data["api_url"] == flow_env.api_url
    assert {spec.name for spec in DEPLOYMENTS} <= present
    assert sorted(name.split("/")[1] for name in data["deployments"]) == sorted(s.name for s in DEPLOYMENTS)


def test_serve_says_serving_in_text(world, flow_env, db_url, settings):
    process = _serve(flow_env, db_url, settings.home)
    try:
        line = _first_line(process, 120)
    finally:
        _stop(process)
    assert line.startswith(f"serving {len(DEPLOYMENTS)} deployment(s) at {flow_env.api_url}: ")
