"""`segpipe segment list|show|usage|trend`: the segment index and one segment's life (docs/lifecycle.md).

The lifecycle commands (archive, unarchive, resume, clone, rename, delete, schedule) live in segment_ops.py.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table

from segpipe.cli import context, groups, segment_ops
from segpipe.cli.output import JsonOption, console, emit, handle_errors
from segpipe.defaults import DEFAULT_SORT, SORT_FIELDS
from segpipe.errors import InvalidInput

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


def register(app: typer.Typer) -> None:
    del app
    groups.segment.command("list")(list_command)
    groups.segment.command("show")(show_command)
    groups.segment.command("usage")(usage_command)
    groups.segment.command("trend")(trend_command)
    segment_ops.register()


def when(value: datetime | None) -> str:
    return "" if value is None else f"{value:%Y-%m-%d %H:%M} UTC"


def number(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def status_text(data: dict[str, Any]) -> str:
    style = "green" if data["status"] == "active" else "yellow"
    archived = " [dim](archived)[/dim]" if data.get("archived") else ""
    return f"[{style}]{data['status']}[/{style}]{archived}"


def _uses_text(usage: list[dict[str, Any]]) -> str:
    from segpipe.lifecycle.usage import KIND_NAMES

    return ", ".join(f"{KIND_NAMES[u['kind']]} {escape(u['key'])}{' ●' if u['live'] else ''}" for u in usage)


def _render_list(rows: list[dict[str, Any]]) -> None:
    table = Table(caption="● live use" if any(u["live"] for r in rows for u in r["usage"]) else None)
    for name in ("key", "name", "status", "members", "last refresh", "used by"):
        table.add_column(name, justify="right" if name == "members" else "left")
    for row in rows:
        table.add_row(
            escape(row["key"]),
            escape(row["name"]),
            status_text(row),
            number(row["member_count"]),
            when(row["last_refreshed_at"]),
            _uses_text(row["usage"]),
        )
    console.print(table)
    console.print(f"{len(rows)} segment(s)", highlight=False)


def list_command(
    status: str = typer.Option("active", "--status", help="active (default), inactive, archived or all."),
    search: str | None = typer.Option(None, "--search", help="Case-insensitive text in key, name or description."),
    sort: str = typer.Option(DEFAULT_SORT, "--sort", help=f"{', '.join(SORT_FIELDS)}; -FIELD or FIELD:desc descends."),
    as_json: bool = JsonOption,
) -> None:
    """The segment index: active segments by default; inactive and archived ones when filtered."""
    from segpipe.lifecycle import catalog

    with handle_errors(as_json), context.engine().connect() as conn:
        emit(catalog.list_index(conn, status, search, sort), as_json, _render_list)


def _render_show(data: dict[str, Any]) -> None:
    import yaml

    from segpipe.rules.display import display_order

    console.print(f"[bold]{escape(data['name'])}[/bold] ({escape(data['key'])})  {status_text(data)}")
    if data["description"]:
        console.print(escape(data["description"]), highlight=False)
    console.print(f"status reason: {escape(data['status_reason'] or '')}", highlight=False)
    console.print(f"members: {number(data['member_count'])}   trend: {data['trend']['sparkline']}", highlight=False)
    if data["members"]:
        more = ", …" if (data["member_count"] or 0) > len(data["members"]) else ""
        console.print(f"first members: {escape(', '.join(data['members']))}{more}", highlight=False)
    console.print(_refresh_line(data), highlight=False)
    console.print(_schedule_line(data["schedule"]), highlight=False)
    console.print("\n[bold]rules[/bold]")
    rules = yaml.safe_dump(display_order(data["rules"]), sort_keys=False, allow_unicode=True, width=100)
    console.print(escape(rules.rstrip()), highlight=False)
    _render_usage(data["usage"], data.get("live_reason"))
    history = Table(title="status history")
    for name in ("at", "from", "to", "reason"):
        history.add_column(name)
    for row in data["history"]:
        history.add_row(when(row["at"]), row["old_status"] or "", row["status"], escape(row["reason"]))
    console.print(history)


def _refresh_line(data: dict[str, Any]) -> str:
    last = data["last_refresh"]
    running = "  [refresh running]" if data["refresh_running"] else ""
    if last is None:
        return f"last refresh: never{running}"
    duration = "" if last["duration_ms"] is None else f", {last['duration_ms'] / 1000:.2f} s"
    counts = f", +{number(last['added'])} −{number(last['removed'])}" if last["added"] is not None else ""
    finished = when(last["finished_at"] or last["started_at"])
    return f"last refresh: {last['status']} {finished} (as of {when(last['as_of'])}{counts}{duration}){running}"


def _schedule_line(schedule: dict[str, Any]) -> str:
    parts = [
        f"{name} at {when(schedule[f'{name}_at'])}" for name in ("activate", "deactivate") if schedule[f"{name}_at"]
    ]
    return "scheduled: " + ("; ".join(parts) if parts else "nothing")


def _render_usage(usage: list[dict[str, Any]], live_reason: str | None) -> None:
    from segpipe.lifecycle.usage import KIND_NAMES

    table = Table(title=f"usage — {live_reason or 'no live use'}")
    for name in ("kind", "key", "role", "status", "live"):
        table.add_column(name)
    for use in usage:
        table.add_row(
            KIND_NAMES[use["kind"]], escape(use["key"]), use["role"], use["status"] or "", "yes" if use["live"] else ""
        )
    console.print(table)


def show_command(
    key: str = typer.Argument(..., metavar="KEY", help="Segment key."), as_json: bool = JsonOption
) -> None:
    """Definition, status and its history, members, last refresh, usage, member-count trend, schedule."""
    from segpipe.lifecycle import catalog

    with handle_errors(as_json), context.engine().connect() as conn:
        emit(catalog.describe_segment(conn, key), as_json, _render_show)


def _render_consumer_usage(data: dict[str, Any]) -> None:
    from segpipe.lifecycle.usage import KIND_NAMES

    live = "live" if data["live"] else "passive"
    console.print(f"{KIND_NAMES[data['kind']]} {escape(data['key'])} ({data['status'] or 'no status'}, {live}) uses:")
    table = Table()
    for name in ("segment", "name", "status", "role", "via", "live"):
        table.add_column(name)
    for seg in data["segments"]:
        status = seg["status"] + (" (archived)" if seg["archived"] else "")
        row = [seg["key"], seg["name"] or "", status, seg["role"], seg["via"] or "", "yes" if seg["live"] else ""]
        table.add_row(*(escape(str(v)) for v in row))
    console.print(table)


def _segment_usage(conn: Connection, key: str) -> dict[str, Any]:
    from segpipe.lifecycle.usage import load_usage
    from segpipe.store.segments import require_segment

    segment = require_segment(conn, key)
    index = load_usage(conn)
    usage = [use.to_json() for use in index.uses_of(key)]
    return {
        "key": key,
        "status": segment.status,
        "archived": segment.archived,
        "live": key in index.live_reasons,
        "live_reason": index.live_reasons.get(key),
        "usage": usage,
    }


def usage_command(
    key: str | None = typer.Argument(None, metavar="KEY", help="Segment key: what uses this segment."),
    of: str | None = typer.Option(None, "--of", help="KIND:KEY (campaign:bf, journey:x, segment:y): what it uses."),
    as_json: bool = JsonOption,
) -> None:
    """Who uses a segment (its direct uses: the `usage` list of `segment show`) or, with --of, which segments
    something uses, transitively."""
    from segpipe.lifecycle.usage import consumer_usage, load_usage, parse_target

    with handle_errors(as_json):
        if (key is None) == (of is None):
            raise InvalidInput("give a segment KEY or --of KIND:KEY (one of them)", where="segment usage")
        with context.engine().connect() as conn:
            if of is not None:
                kind, target = parse_target(of)
                emit(consumer_usage(load_usage(conn), kind, target), as_json, _render_consumer_usage)
            else:
                data = _segment_usage(conn, key or "")
                emit(data["usage"], as_json, lambda _uses: _render_usage(data["usage"], data["live_reason"]))


def _render_points(data: dict[str, Any]) -> None:
    console.print(f"{escape(data['key'])}: {data['sparkline']}", highlight=False)
    table = Table()
    for name in ("at", "members", "source"):
        table.add_column(name, justify="right" if name == "members" else "left")
    for point in data["points"]:
        table.add_row(when(point["at"]), number(point["member_count"]), point["source"])
    console.print(table)


def trend_command(
    key: str = typer.Argument(..., metavar="KEY", help="Segment key."),
    output: Path | None = typer.Option(None, "--output", help="Draw the chart to FILE.png or FILE.svg."),
    since: str | None = typer.Option(None, "--since", help="Only points at or after this time."),
    last: int | None = typer.Option(None, "--last", min=1, help="Only the last N points."),
    as_json: bool = JsonOption,
) -> None:
    """The member count over time: a chart with --output, else the points (table, or JSON with --json)."""
    from segpipe.lifecycle import trend
    from segpipe.store.segments import require_segment

    with handle_errors(as_json):
        if output is not None:
            trend.chart_format(output)
        start = segment_ops.parse_time(since, "--since")
        with context.engine().connect() as conn:
            segment = require_segment(conn, key)
            points = trend.member_count_trend(conn, segment.id, since=start, last=last)
        data = {
            "key": key,
            "name": segment.name,
            "points": [p.to_json() for p in points],
            "sparkline": trend.sparkline([p.member_count for p in points]),
        }
        if output is None:
            emit(data, as_json, _render_points)
            return
        trend.draw_trend(points, output, f"{segment.name} ({key}): members")
        summary = {"key": key, "path": str(output), "format": output.suffix.lower()[1:], "points": len(points)}
        emit(summary, as_json, lambda s: console.print(f"wrote {s['points']} point(s) to {escape(s['path'])}"))
