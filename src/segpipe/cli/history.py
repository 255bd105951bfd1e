"""`segpipe segment history KEY`: refresh runs and definition changes of one segment (docs/lifecycle.md)."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from segpipe.cli import context
from segpipe.cli.output import JsonOption, console, emit, handle_errors
from segpipe.errors import NotFound


def history_command(
    key: str = typer.Argument(..., metavar="KEY", help="Segment key (a deleted segment's history is kept)."),
    limit: int = typer.Option(20, "--limit", min=1, help="Show at most this many of each (newest first)."),
    as_json: bool = JsonOption,
) -> None:
    """Refresh runs (as_of, trigger, status, counts, duration, mode, flow run) and definition changes (when, by
    whom, a diff), newest first."""
    from segpipe.lifecycle.history import definition_changes, refresh_history
    from segpipe.store.segments import get_segment

    with handle_errors(as_json):
        with context.engine().connect() as conn:
            segment = get_segment(conn, key)
            changes = definition_changes(conn, key, limit)
            if segment is None and not changes:
                raise NotFound(f"unknown segment '{key}'")
            refreshes = refresh_history(conn, segment.id, limit) if segment is not None else []
        data = {
            "key": key,
            "deleted": segment is None,
            "refreshes": refreshes,
            "definitions": [change.to_json() for change in changes],
        }
        emit(data, as_json, _render)


def _render(data: dict[str, Any]) -> None:
    title = f"{data['key']}" + (" (deleted)" if data["deleted"] else "")
    table = Table(title=f"refreshes of {title}")
    for name in ("as of", "trigger", "status", "members", "added", "removed", "duration", "mode", "flow run"):
        table.add_column(name)
    for row in data["refreshes"]:
        table.add_row(
            _when(row["as_of"]),
            escape(row["trigger"]),
            _status(row),
            _number(row["member_count"]),
            _number(row["added"]),
            _number(row["removed"]),
            _duration(row["duration_ms"]),
            row["mode"] or "",
            row["flow_run_id"] or "",
        )
    console.print(table if data["refreshes"] else f"no refreshes of {escape(title)}")
    if not data["definitions"]:
        console.print("no definition changes recorded")
    for change in data["definitions"]:
        console.print(
            f"[bold]v{change['version']} {change['change']}[/bold] {_when(change['changed_at'])}"
            f" by {escape(change['changed_by'])}",
            highlight=False,
        )
        if change["diff"]:
            console.print(change["diff"].rstrip("\n"), markup=False, highlight=False, soft_wrap=True)


def _status(row: dict[str, Any]) -> str:
    why = row["error"] or (row["reason"] if row["status"] != "succeeded" else None)
    rewind = " (rewind)" if row.get("rewind") else ""
    return row["status"] + rewind + (f": {escape(why)}" if why else "")


def _when(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}" if value is not None else ""


def _number(value: int | None) -> str:
    return f"{value:,}" if value is not None else ""


def _duration(ms: float | None) -> str:
    if ms is None:
        return ""
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"
