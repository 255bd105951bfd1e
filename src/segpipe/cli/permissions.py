"""`segpipe grant|revoke ACTOR PERMISSION... [--by WHO]` and `segpipe permissions [ACTOR]` (docs/security.md).

Only an admin grants or revokes; anyone may list. A refusal exits 3 and leaves a `security_audit` row.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from segpipe.cli import context
from segpipe.cli.output import JsonOption, console, emit, handle_errors

_PERMISSIONS_HELP = "profiles:view, profiles:edit, segments:edit; profiles:* (both profiles ones) or * (all)."
_BY_HELP = "Admins only: record the change as made on behalf of this actor (default: your own role)."


def register(app: typer.Typer) -> None:
    app.command("grant")(grant_command)
    app.command("revoke")(revoke_command)
    app.command("permissions")(permissions_command)


def grant_command(
    actor: str = typer.Argument(..., help="Who receives the permissions."),
    permissions: list[str] = typer.Argument(..., help=_PERMISSIONS_HELP),
    by: str | None = typer.Option(None, "--by", help=_BY_HELP),
    as_json: bool = JsonOption,
) -> None:
    """Grant permissions to an actor (admins only; deny by default); every change is in the grant audit."""
    _change("grant", actor, permissions, by, as_json)


def revoke_command(
    actor: str = typer.Argument(..., help="Whose permissions to take away."),
    permissions: list[str] = typer.Argument(..., help=_PERMISSIONS_HELP),
    by: str | None = typer.Option(None, "--by", help=_BY_HELP),
    as_json: bool = JsonOption,
) -> None:
    """Revoke permissions from an actor (admins only); every change is in the grant audit."""
    _change("revoke", actor, permissions, by, as_json)


def _change(action: str, actor: str, permissions: list[str], by: str | None, as_json: bool) -> None:
    with handle_errors(as_json):
        from segpipe.permissions import grant, revoke

        with context.engine().begin() as conn:
            change = (grant if action == "grant" else revoke)(conn, actor, permissions, by)
        emit(change, as_json, _render_change)


def _render_change(change: Any) -> None:
    verb = "granted" if change.action == "grant" else "revoked"
    done = ", ".join(change.changed) if change.changed else "nothing (already so)"
    held = ", ".join(change.permissions) if change.permissions else "no permissions"
    console.print(f"{change.actor}: {verb} {done}; now holds {held}.", highlight=False, soft_wrap=True)


def permissions_command(
    actor: str | None = typer.Argument(None, help="One actor (default: every actor with a grant)."),
    as_json: bool = JsonOption,
) -> None:
    """List grants: each actor's permissions, and whether it is an admin role (admins hold segments:* implicitly).

    With ACTOR, `--json` prints one object `{actor, permissions, admin}`; without, a list of them.
    """
    with handle_errors(as_json):
        from segpipe.permissions import list_grants

        with context.engine().connect() as conn:
            rows = list_grants(conn, actor)
        emit(rows[0] if actor is not None else rows, as_json, lambda _data: _render_grants(rows))


def _render_grants(rows: list[dict[str, Any]]) -> None:
    if not rows:
        console.print("No grants. Admins hold segments:edit implicitly; `segpipe grant ACTOR PERMISSION` adds one.")
        return
    table = Table("actor", "permissions", "admin")
    for row in rows:
        table.add_row(row["actor"], ", ".join(row["permissions"]) or "-", "yes" if row["admin"] else "")
    console.print(table)
