"""`segpipe serve`: serve every Prefect deployment in this process, schedules included (docs/orchestration.md).

With a Prefect API configured (PREFECT_API_URL or the active profile) it serves against it. Without one it
starts a local `prefect server` on --host/--port first (its UI at http://HOST:PORT), and stops it on exit.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

import typer

from segpipe.cli import context, orchestration
from segpipe.cli.output import JsonOption, console, emit, err_console, handle_errors
from segpipe.errors import InvalidInput

STARTUP_TIMEOUT_S = 90


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)


def _healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@contextmanager
def local_prefect_server(host: str, port: int) -> Iterator[str]:
    """`prefect server start` as a child process; yields its API URL once healthy; always stops it."""
    api_url = f"http://{host}:{port}/api"
    if _healthy(api_url):
        raise InvalidInput(f"a server already answers at {api_url}; set PREFECT_API_URL={api_url} to use it", "--port")
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)]
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not _healthy(api_url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise InvalidInput(f"the Prefect server did not start on {host}:{port} (port in use?)", "--port")
            time.sleep(0.5)
        yield api_url
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _interrupt_on_sigterm() -> None:
    """SIGTERM ends `serve` like Ctrl-C does, so the local server is stopped and schedules are paused."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Where to start a local Prefect server (when none is set)."),
    port: int = typer.Option(4200, "--port", help="Its port; the UI is at http://HOST:PORT."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="At most this many flow runs at once."),
    no_catalog: bool = typer.Option(False, "--no-catalog", help="Do not serve the segment catalog."),
    catalog_host: str = typer.Option("127.0.0.1", "--catalog-host", help="Where the segment catalog listens."),
    catalog_port: int = typer.Option(4300, "--catalog-port", help="The segment catalog's port."),
    show_members: bool = typer.Option(False, "--show-members", help="The catalog shows the first 100 members."),
    as_json: bool = JsonOption,
) -> None:
    """Serve the Prefect deployments (refresh-all, scheduled-refresh, refresh-segments, presend, classify,
    delete-profiles) in this process, schedules included. Starts a local Prefect server when no API is configured.
    Flow runs use SEGPIPE_DATABASE_URL of this process. Also serves the read-only segment catalog
    (http://127.0.0.1:4300/segments) unless --no-catalog. Once every deployment exists on the server, one line on
    stdout says it is serving (with --json: `{"status": "serving", "api_url", "catalog_url", "deployments"}`)."""
    catalog = None if no_catalog else Catalog(catalog_host, catalog_port, show_members)
    with handle_errors(as_json):
        context.engine()
        _interrupt_on_sigterm()
        orchestration.quiet_prefect()
        if orchestration.prefect_api_configured():
            _serve(limit, as_json, os.environ.get("PREFECT_API_URL"), _start_catalog(catalog))
            return
        with local_prefect_server(host, port) as api_url:
            os.environ["PREFECT_API_URL"] = api_url
            err_console.print(f"Prefect UI: http://{host}:{port}  (API {api_url})", highlight=False)
            _serve(limit, as_json, api_url, _start_catalog(catalog))


@dataclass(frozen=True)
class Catalog:
    host: str
    port: int
    show_members: bool


def _start_catalog(catalog: Catalog | None) -> str | None:
    """The segment catalog in a background thread of this process; its URL (None with --no-catalog).

    A catalog that cannot start (its port is taken) is reported and left out: the deployments still serve."""
    if catalog is None:
        return None
    from segpipe.catalog.server import start_catalog_thread
    from segpipe.cli.catalog import catalog_options

    options = catalog_options(catalog.show_members, None)
    try:
        start_catalog_thread(context.settings(), catalog.host, catalog.port, options)
    except InvalidInput as exc:
        err_console.print(f"warning: segment catalog not served: {exc}", highlight=False)
        return None
    url = f"http://{catalog.host}:{catalog.port}/segments"
    err_console.print(f"segment catalog: {url}", highlight=False)
    return url


def _announce(as_json: bool, api_url: str | None, catalog_url: str | None, deployments: list[str]) -> None:
    """Called once the server holds every deployment (read back through the Prefect client)."""
    data = {"status": "serving", "api_url": api_url, "catalog_url": catalog_url, "deployments": deployments}
    emit(
        data,
        as_json,
        lambda d: console.print(
            f"serving {len(deployments)} deployment(s) at {api_url}: {', '.join(deployments)}",
            highlight=False,
            markup=False,
        ),
    )
    sys.stdout.flush()


def _serve(limit: int | None, as_json: bool, api_url: str | None, catalog_url: str | None) -> None:
    from flows.serve import serve_all

    try:
        serve_all(limit, lambda names: _announce(as_json, api_url, catalog_url, names))
    except KeyboardInterrupt:
        err_console.print("stopped serving", highlight=False)
