"""`segpipe segment explain KEY EXTERNAL_ID` and `segpipe segment sql KEY` (docs/explain.md)."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape

from segpipe.cli import context, groups
from segpipe.cli.output import JsonOption, console, emit, handle_errors
from segpipe.cli.refresh import parse_as_of
from segpipe.timeutil import now


def register(app: typer.Typer) -> None:
    groups.segment.command("explain")(explain_command)
    groups.segment.command("sql")(sql_command)


def explain_command(
    key: str = typer.Argument(..., help="Segment key."),
    external_id: str = typer.Argument(..., help="The profile's external id."),
    as_of: str | None = typer.Option(None, "--as-of", help="Evaluate the rules as of this time (default: now)."),
    as_json: bool = JsonOption,
) -> None:
    """Why a profile is in or out: each rule node's outcome and the value that decided it.

    Evaluated live from the stored rules, like `segment check` (memberships are not changed); referenced
    segments are explained by their own rules, and their stored membership is shown beside. An unknown segment or
    profile is an error (exit 2).
    """
    from segpipe.explain.evaluate import explain_membership

    with handle_errors(as_json):
        when = parse_as_of(as_of) or now()
        with context.engine().connect() as conn:
            explanation = explain_membership(conn, key, external_id, when)
        emit(explanation.to_json(), as_json, _render)


def _render(data: dict[str, Any]) -> None:
    verdict = "is a member of" if data["member"] else "is not a member of"
    console.print(
        f"{escape(data['external_id'])} {verdict} {escape(data['key'])} as of {data['as_of']:%Y-%m-%d %H:%M:%S} UTC",
        highlight=False,
    )
    _render_node(data["tree"], 0)


def _render_node(node: dict[str, Any], depth: int) -> None:
    mark, style = ("✓", "green") if node["outcome"] else ("✗", "red")
    console.print(
        f"{'  ' * depth}[{style}]{mark}[/{style}] {escape(node['text'])}  [dim]{escape(node['path'])}[/dim]",
        highlight=False,
        soft_wrap=True,
    )
    for child in node.get("children", []):
        _render_node(child, depth + 1)


def sql_command(
    key: str = typer.Argument(..., help="Segment key."),
    as_of: str | None = typer.Option(None, "--as-of", help="Compile as of this time (default: now)."),
    as_json: bool = JsonOption,
) -> None:
    """Print the SQL a segment's refresh runs to compute its members.

    For reading: values are written inline as literals here, while segpipe itself binds each one as a
    parameter. A referenced segment reads that segment's stored members (as a refresh does).
    """
    from segpipe.explain.sql import segment_sql

    with handle_errors(as_json):
        when = parse_as_of(as_of) or now()
        with context.engine().connect() as conn:
            text = segment_sql(conn, key, when)
        data = {"key": key, "as_of": when, "sql": text}
        emit(data, as_json, lambda d: console.print(d["sql"], highlight=False, soft_wrap=True, markup=False))
