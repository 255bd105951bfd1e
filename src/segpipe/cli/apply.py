"""`segpipe apply PATH... [--dry-run] [--json]`: declarative objects (contract §3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from segpipe.cli import context
from segpipe.cli.output import JsonOption, console, emit, fail, handle_errors

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def apply(
    paths: list[str] = typer.Argument(..., metavar="PATH", help="YAML/JSON files or folders of them; - is stdin."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the plan only (diffs, member counts as of now); write nothing."
    ),
    prune: bool = typer.Option(
        False,
        "--prune",
        help="Also remove stored objects of each kind in the files that the files no longer hold "
        "(referenced segments and objects in live use are refused).",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Create or update segments, campaigns, journeys, test lists, messages and reports from documents."""
    from segpipe.apply.execute import ApplyBlocked, ApplyRefused, apply_documents
    from segpipe.apply.explain import plan_to_json, render_plan
    from segpipe.apply.files import read_documents

    with handle_errors(as_json):
        documents = read_documents(paths)
        engine = context.engine()
        segments = any(isinstance(doc.data, dict) and doc.data.get("kind") == "Segment" for doc in documents)
        actor = _authenticated_actor(engine, segments)
        try:
            plan = apply_documents(engine, documents, dry_run=dry_run, actor=actor, prune=prune)
        except (ApplyRefused, ApplyBlocked) as exc:
            if not as_json:
                render_plan(exc.plan, console, dry_run=dry_run, applied=False)
            extra = {**plan_to_json(exc.plan, dry_run=dry_run, applied=False)}
            if isinstance(exc, ApplyBlocked):
                extra["gate"] = exc.gate
            fail(str(exc), exc.exit_code, as_json, extra)
            return
        applied = not dry_run
        emit(
            plan_to_json(plan, dry_run=dry_run, applied=applied),
            as_json,
            lambda _data: render_plan(plan, console, dry_run=dry_run, applied=applied),
        )


def _authenticated_actor(engine: Engine, segments: bool) -> str:
    """The session's actor, recorded in the definition history. Segment documents need segments:edit (admins hold
    it implicitly); a dry run is refused the same way."""
    from segpipe.actors import resolve_actor
    from segpipe.permissions import SEGMENTS_EDIT, require_permission

    with engine.connect() as conn:
        actor = resolve_actor(conn, None, "apply")
        if segments:
            require_permission(conn, actor, SEGMENTS_EDIT, "apply")
    return actor.label


def register(app: typer.Typer) -> None:
    app.command("apply")(apply)
