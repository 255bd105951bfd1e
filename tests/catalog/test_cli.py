"""`segpipe catalog` and `segpipe serve` (with and without the catalog) as real processes, over HTTP (httpx)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from segpipe.config import Settings
from tests.catalog.helpers import free_port
from tests.flows.helpers import wait_for


def _env(db_url: str, settings: Settings, **extra: str) -> dict[str, str]:
    return {**os.environ, "SEGPIPE_DATABASE_URL": db_url, "SEGPIPE_HOME": str(settings.home), **extra}


@contextmanager
def _process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "segpipe.cli.main", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=5)
    except httpx.TransportError:
        return None


def test_help_names_the_options(cli) -> None:
    catalog = cli("catalog", "--help")
    assert catalog.exit_code == 0
    for option in ("--host", "--port", "--show-members", "--prefect-ui"):
        assert option in catalog.output
    serve = cli("serve", "--help")
    assert serve.exit_code == 0 and "--no-catalog" in serve.output


def test_catalog_command_serves_until_terminated(world, db_url: str, settings: Settings, tmp_path: Path) -> None:
    port = free_port()
    args = ["catalog", "--port", str(port), "--show-members", "--prefect-ui", "http://ui.test/", "--json"]
    with _process(args, _env(db_url, settings), tmp_path / "catalog.log") as process:
        assert _serving(process) == {"status": "serving", "url": f"http://127.0.0.1:{port}/segments"}
        health = wait_for(lambda: _get(f"http://127.0.0.1:{port}/healthz"), 60, f"segpipe catalog ({tmp_path})")
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        page = httpx.get(f"http://127.0.0.1:{port}/segments/de", timeout=10)
        assert page.status_code == 200
        assert "@example.com" in page.text and 'href="http://ui.test/runs/flow-run/' in page.text
        assert httpx.get(f"http://127.0.0.1:{port}/segments/nope", timeout=10).status_code == 404
        os.killpg(process.pid, signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal: the process ends as terminated by it.
        assert process.wait(30) in (0, -signal.SIGTERM)
    log = (tmp_path / "catalog.log").read_text()
    assert f"http://127.0.0.1:{port}/segments" in log and "Traceback" not in log


def test_a_taken_port_is_an_error(cli, world) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = cli("catalog", "--port", port, "--json")
    assert result.exit_code == 2
    assert json.loads(result.stdout)["error"].startswith(f"--port: cannot listen on 127.0.0.1:{port}")
    assert result.stderr.startswith("error: --port: cannot listen")


def _serving(process: subprocess.Popen[bytes]) -> dict:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line, "serve ended before saying it serves"
    return json.loads(line)


def test_serve_serves_the_catalog_unless_told_not_to(
    world, prefect_server, db_url: str, settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    env = _env(db_url, settings, **prefect_server.env(), PREFECT_LOGGING_LEVEL="WARNING")
    with _process(["serve", "--json", "--catalog-port", str(port)], env, tmp_path / "serve.log") as process:
        serving = _serving(process)
        assert serving["catalog_url"] == f"http://127.0.0.1:{port}/segments"
        index = httpx.get(serving["catalog_url"], timeout=10)
        assert index.status_code == 200 and 'data-key="gold"' in index.text
        segment = httpx.get(f"http://127.0.0.1:{port}/segments/gold", timeout=10).text
        assert "scheduled-refresh deployment, cron 0 * * * *" in segment
        assert f'href="{prefect_server.api_url.removesuffix("/api")}/deployments"' in segment
    port = free_port()
    with _process(["serve", "--json", "--no-catalog", "--catalog-port", str(port)], env, tmp_path / "no.log") as p:
        assert _serving(p)["catalog_url"] is None
        assert _get(f"http://127.0.0.1:{port}/healthz") is None
