"""`segpipe apply PATH... [--dry-run] [--json]`: declarative objects (contract §3)."""

from __future__ import annotations

import typer

from segpipe.cli import context
from segpipe.cli.output import JsonOption, console, emit, fail, handle_errors


def apply(
    paths: list[str] = typer.Argument(..., metavar="PATH", help="YAML/JSON files or folders of them; - is stdin."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan only; write nothing."),
    as_json: bool = JsonOption,
) -> None:
    """Create or update segments, campaigns, journeys, test lists, messages and reports from documents."""
    from segpipe.apply.execute import ApplyBlocked, ApplyRefused, apply_documents
    from segpipe.apply.explain import plan_to_json, render_plan
    from segpipe.apply.files import read_documents

    with handle_errors(as_json):
        documents = read_documents(paths)
        try:
            plan = apply_documents(context.engine(), documents, dry_run=dry_run)
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


def register(app: typer.Typer) -> None:
    app.command("apply")(apply)
