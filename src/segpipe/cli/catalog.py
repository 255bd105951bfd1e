"""`segpipe catalog`: the read-only segment catalog as web pages (docs/catalog.md)."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import typer

from segpipe.cli import context
from segpipe.cli.output import JsonOption, emit, err_console, handle_errors

if TYPE_CHECKING:
    from segpipe.catalog.options import CatalogOptions

DEFAULT_PORT = 4300


def register(app: typer.Typer) -> None:
    app.command("catalog")(catalog_command)


def prefect_ui_url(explicit: str | None) -> str | None:
    """--prefect-ui, else PREFECT_UI_URL, else PREFECT_API_URL without its `/api` (where Prefect serves its UI)."""
    if explicit:
        return explicit.rstrip("/")
    if os.environ.get("PREFECT_UI_URL"):
        return os.environ["PREFECT_UI_URL"].rstrip("/")
    api = os.environ.get("PREFECT_API_URL", "").rstrip("/")
    return api.removesuffix("/api") if api.endswith("/api") else None


def refresh_schedule() -> str | None:
    """How active segments are refreshed on a schedule: the scheduled-refresh deployment's cron."""
    from flows.deployments import DEPLOYMENTS

    crons = [f"{d.name} deployment, cron {d.cron} (UTC)" for d in DEPLOYMENTS if d.name == "scheduled-refresh"]
    return crons[0] if crons else None


def catalog_options(show_members: bool, prefect_ui: str | None) -> CatalogOptions:
    from segpipe.catalog.options import CatalogOptions

    return CatalogOptions(show_members, prefect_ui_url(prefect_ui), refresh_schedule())


def catalog_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (127.0.0.1: this machine only)."),
    port: int = typer.Option(DEFAULT_PORT, "--port", help="Port to listen on."),
    show_members: bool = typer.Option(
        False, "--show-members", help="Show the first 100 members (external id, email) on segment pages."
    ),
    prefect_ui: str | None = typer.Option(
        None,
        "--prefect-ui",
        help="Prefect UI URL: runs link to it (default: PREFECT_UI_URL, or PREFECT_API_URL minus /api).",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Serve the read-only segment catalog: /segments (the index), /segments/KEY, /campaigns/KEY, /healthz.
    Runs until interrupted. With --json, one line on stdout says where it serves."""
    from segpipe.catalog.server import listen, run_catalog

    with handle_errors(as_json):
        options = catalog_options(show_members, prefect_ui)
        settings = context.settings()
        context.engine()
        sock = listen(host, port)
        url = f"http://{host}:{port}/segments"
        err_console.print(f"segment catalog: {url}", highlight=False)
        if as_json:
            emit({"status": "serving", "url": url}, True)
            sys.stdout.flush()
        run_catalog(settings, sock, options)
