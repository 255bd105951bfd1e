"""`segpipe alerts install --webhook URL | list | uninstall`: Prefect automations that turn segpipe's events
(refresh failed or held, pre-send refused, segment became inactive/active) into a message to a webhook.

Needs a Prefect API (PREFECT_API_URL or the active profile). Prefect is imported only inside the commands
(flows.alerts). See docs/alerts.md.
"""

from __future__ import annotations

from typing import Any

import typer

from segpipe.cli import orchestration
from segpipe.cli.output import JsonOption, console, emit, handle_errors
from segpipe.errors import InvalidInput

alerts_app = typer.Typer(help="Alerts: Prefect automations that send segpipe's events to a webhook.")


def register(app: typer.Typer) -> None:
    app.add_typer(alerts_app, name="alerts")


def _require_api() -> None:
    if not orchestration.prefect_api_configured():
        raise InvalidInput("no Prefect API configured; set PREFECT_API_URL (or start one: segpipe serve)", "alerts")
    orchestration.quiet_prefect()


def _print_automations(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        state = "enabled" if row["enabled"] else "disabled"
        console.print(f"{row['name']}: {', '.join(row['events'])} ({state})", highlight=False, markup=False)


@alerts_app.command("install")
def install_command(
    webhook: str = typer.Option(..., "--webhook", help="The URL that receives each alert as a JSON POST."),
    as_json: bool = JsonOption,
) -> None:
    """Create (or replace, by name) the webhook notification block `segpipe-alerts` and one automation per alert."""
    with handle_errors(as_json):
        if not webhook.startswith(("http://", "https://")):
            raise InvalidInput(f"must be an http(s) URL, got '{webhook}'", "--webhook")
        _require_api()
        from flows import alerts

        data = alerts.install(webhook)

        def render(d: dict[str, Any]) -> None:
            console.print(f"alerts go to {d['webhook']} (block {d['block']}):", highlight=False, markup=False)
            _print_automations(d["automations"])

        emit(data, as_json, render)


@alerts_app.command("list")
def list_command(as_json: bool = JsonOption) -> None:
    """segpipe's automations on the Prefect server."""
    with handle_errors(as_json):
        _require_api()
        from flows import alerts

        rows = alerts.listed()
        emit(rows, as_json, lambda r: _print_automations(r) if r else console.print("no segpipe alerts installed"))


@alerts_app.command("uninstall")
def uninstall_command(as_json: bool = JsonOption) -> None:
    """Delete segpipe's automations and its webhook block."""
    with handle_errors(as_json):
        _require_api()
        from flows import alerts

        data = alerts.uninstall()
        emit(data, as_json, lambda d: console.print(f"removed {len(d['removed'])} automation(s)", highlight=False))
