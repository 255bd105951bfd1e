"""`segpipe quickstart`: database, demo data, demo segments and campaigns, refresh-all, the results table."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from segpipe.cli import context
from segpipe.cli.output import JsonOption, console, emit, err_console, handle_errors
from segpipe.cli.progress import progress_for
from segpipe.cli.refresh import render_rows, result_rows, run_refresh


def register(app: typer.Typer) -> None:
    app.command("quickstart")(quickstart_command)


def _render(data: dict[str, Any]) -> None:
    loads = Table(title="demo data loaded")
    for name in ("kind", "rows", "inserted", "updated", "duplicates skipped"):
        loads.add_column(name, justify="left" if name == "kind" else "right")
    for item in data["loads"]:
        loads.add_row(
            item["kind"],
            f"{item['rows']:,}",
            f"{item['inserted']:,}",
            f"{item['updated']:,}",
            f"{item['skipped_duplicates']:,}",
        )
    if data["loads"]:
        console.print(loads)
    else:
        console.print("demo data already loaded: reusing it")
    objects = ", ".join(f"{count} {action}" for action, count in sorted(data["objects"].items()))
    console.print(f"demo segments and campaigns applied: {objects}")
    render_rows(data["refresh"])
    console.print(
        "next: [bold]segpipe segment list[/], [bold]segpipe segment show high-value-de[/], "
        "[bold]segpipe segment members high-value-de --limit 10[/], [bold]segpipe presend black-friday[/]"
    )


def quickstart_command(
    profiles: int = typer.Option(5000, "--profiles", min=100, max=1_000_000, help="How many demo profiles."),
    as_json: bool = JsonOption,
) -> None:
    """Set up a demo: the database (embedded unless SEGPIPE_DATABASE_URL is set), demo data, demo segments and
    campaigns, then run the refresh-all Prefect flow and print the results table. Safe to run again.

    Without a configured Prefect API the flow runs on a temporary local Prefect server (about 10 s more);
    SEGPIPE_ORCHESTRATION=direct calls the refresh engine directly instead."""
    from segpipe.demo.quickstart import set_up_demo

    with handle_errors(as_json):
        settings = context.settings()
        engine = context.engine()
        where = "embedded Postgres" if settings.database_url is None else "SEGPIPE_DATABASE_URL"
        url = engine.url.render_as_string(hide_password=True)
        if not as_json:
            err_console.print(f"segpipe: database {url} ({where})")
        with err_console.status("loading demo data and applying demo objects…", spinner="dots"):
            setup = set_up_demo(engine, profiles=profiles)
        result = run_refresh(None, None, trigger="quickstart", progress=progress_for(as_json), prefer_flow=True)
        data = {
            "database": url,
            "loads": [
                {k: getattr(r, k) for k in ("kind", "rows", "inserted", "updated", "skipped_duplicates")}
                for r in setup.loads
            ],
            "objects": setup.objects,
            "refresh": result_rows(result),
        }
        emit(data, as_json, _render)
        if result.failed:
            raise typer.Exit(1)
