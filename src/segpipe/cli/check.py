"""`segpipe segment check KEY EXTERNAL_ID [--as-of TIME]`: is one profile in a segment (live, from the rules)?"""

from __future__ import annotations

from typing import Any

import typer

from segpipe.cli import context, groups
from segpipe.cli.output import JsonOption, console, emit, handle_errors
from segpipe.cli.refresh import parse_as_of


def register(app: typer.Typer) -> None:
    groups.segment.command("check")(check_command)


def _render(result: dict[str, Any]) -> None:
    verdict = "is a member of" if result["member"] else "is not a member of"
    console.print(f"{result['external_id']} {verdict} {result['key']}", highlight=False)


def check_command(
    key: str = typer.Argument(..., help="Segment key."),
    external_id: str = typer.Argument(..., help="The profile's external id."),
    as_of: str | None = typer.Option(None, "--as-of", help="Evaluate the rules as of this time (default: now)."),
    as_json: bool = JsonOption,
) -> None:
    """Evaluate a segment's rules for one profile, live (no refresh; memberships are not read or changed).

    An unknown segment or profile is an error (exit 2). References to other segments are evaluated live too.
    """
    from segpipe.refresh.profile_check import is_member

    with handle_errors(as_json):
        when = parse_as_of(as_of)
        with context.engine().connect() as conn:
            member = is_member(conn, external_id, key, when)
        emit({"key": key, "external_id": external_id, "member": member}, as_json, _render)
