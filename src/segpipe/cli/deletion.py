"""`segpipe delete-profiles KEY ...` (`segpipe deletion ...`: in deletion_jobs.py; grants: `segpipe.cli.permissions`).

A missing `--confirm`, `--expect` or `--actor` is a usage error (exit 2); a confirmation that does not match
the segment's name, a missing permission, a count mismatch or any failed data-quality check is a refused
safety gate (exit 3) and deletes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from segpipe.cli import context, deletion_jobs
from segpipe.cli.output import JsonOption, console, emit, fail, handle_errors
from segpipe.cli.progress import progress_for
from segpipe.progress import Progress as ProgressSink

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from segpipe.deletion.gates import DeletionRefused
    from segpipe.deletion.run import DeletionResult


def register(app: typer.Typer) -> None:
    app.command("delete-profiles")(delete_profiles_command)
    deletion_jobs.register(app)


def _progress(as_json: bool) -> ProgressSink:
    return progress_for(as_json, "delete profiles", "{label} ({detail})")


def delete_profiles_command(
    key: str = typer.Argument(..., help="The segment whose members are deleted."),
    confirm: str = typer.Option(..., "--confirm", help="The segment's exact current name."),
    expect: int = typer.Option(..., "--expect", help="The number of profiles you saw in the segment."),
    actor: str = typer.Option(
        ...,
        "--actor",
        help="Who deletes: your own role, or (admins only) whom you act for; needs profiles:view and profiles:edit.",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Run the gates and report; delete nothing."),
    batch_size: int | None = typer.Option(
        None,
        "--batch-size",
        help="Profiles per batch (one transaction each); default: about 5,000,000 rows per batch.",
    ),
    max_share: float = typer.Option(0.5, "--max-share", help="Refuse above this share of all profiles."),
    tolerance: int = typer.Option(0, "--tolerance", help="Accept a count within ±N of --expect (default exact)."),
    job: str | None = typer.Option(None, "--job", help="Resume this job (after a crash or a kill)."),
    hold_days: int | None = typer.Option(
        None,
        "--hold-days",
        help="Freeze and gate now, delete after N days unless cancelled (`segpipe deletion run-due` or the "
        "scheduled run-due-deletions flow carries it out).",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Delete every profile of a segment: audited, gated by Great Expectations, in resumable batches."""
    with handle_errors(as_json):
        from segpipe.deletion import DeletionRefused

        try:
            options = (dry_run, batch_size, max_share, tolerance, hold_days)
            result = _run(key, confirm, expect, actor, options, job, as_json)
        except DeletionRefused as exc:
            _refused(exc, as_json)
        data = deletion_jobs.result_json(result)
        if result.status in ("completed", "previewed", "held"):
            emit(data, as_json, _render_result)
            return
        if not as_json:
            _render_result(data)
        message = data.pop("error") or f"deletion job {result.job_id} is {result.status}"
        fail(message, _exit_for(result.status), as_json, data)


def _run(
    key: str, confirm: str, expect: int, actor: str, options: tuple[Any, ...], job: str | None, as_json: bool
) -> DeletionResult:
    from segpipe.actors import resolve_actor
    from segpipe.deletion import DeletionRequest, resume, run_deletion
    from segpipe.deletion.jobs import parse_job_id
    from segpipe.errors import InvalidInput

    dry_run, batch_size, max_share, tolerance, hold_days = options
    request = DeletionRequest(key, actor, expect, confirm, dry_run, batch_size, max_share, tolerance, hold_days)
    request.validate()
    engine = context.engine()
    with engine.connect() as conn:
        resolved = resolve_actor(conn, actor, "delete-profiles")
        if not resolved.admin:
            _require_deletion_permissions(conn, resolved.actor)
    actor = resolved.actor
    if job is None:
        return run_deletion(engine, request, _progress(as_json))
    if dry_run or hold_days is not None:
        flag = "--dry-run" if dry_run else "--hold-days"
        raise InvalidInput("starts a new job; leave out --job", where=flag)
    job_id = parse_job_id(job, where="--job")
    return resume(engine, job_id, _progress(as_json), actor=actor, segment_key=key, confirm=confirm, expected=expect)


def _require_deletion_permissions(conn: Connection, actor: str) -> None:
    """A non-admin's deletion: refuse it naming the permissions the actor lacks (exit 3, audited), before Postgres
    refuses the job tables by name; an admin's refusal is recorded in its job and the deletion audit instead."""
    from segpipe.actors import record_refusal
    from segpipe.permissions import DELETE_PROFILES, missing_permissions, require_permissions

    missing = missing_permissions(conn, actor, DELETE_PROFILES)
    if missing:
        record_refusal(conn, "permission", "delete-profiles", actor, {"missing": missing})
        require_permissions(conn, actor, DELETE_PROFILES)


def _exit_for(status: str) -> int:
    return 3 if status in ("refused", "cancelled") else 1


def _refused(exc: DeletionRefused, as_json: bool) -> None:
    checks = (exc.details or {}).get("checks") if isinstance(exc.details, dict) else None
    if checks and not as_json:
        _render_checks(checks, title="Data-quality gate (Great Expectations)")
    extra = {
        "gate": exc.gate,
        "job_id": str(exc.job_id),
        "status": "refused",
        "matched": exc.matched,
        "deleted_profiles": 0,
        "details": exc.details,
    }
    fail(str(exc), exc.exit_code, as_json, extra)


def _render_checks(checks: list[dict[str, Any]], title: str) -> None:
    table = Table("check", "meaning", "status", "expected", "observed", title=title)
    for check in checks:
        status = (
            "[green]ok[/]" if check["success"] else ("[bold red]FAILED[/]" if check["blocking"] else "[yellow]warn[/]")
        )
        table.add_row(check["name"], check["description"], status, str(check["expected"]), _observed(check))
    console.print(table)


def _observed(check: dict[str, Any]) -> str:
    if check.get("error"):
        return f"error: {check['error']}"
    observed = check.get("observed")
    if isinstance(observed, dict) and "unexpected" in observed:
        return f"{observed['unexpected']} of {observed.get('rows')} rows offend"
    return f"{observed:.4g}" if isinstance(observed, float) else str(observed)


def _render_tables(tables: dict[str, int], header: str) -> None:
    table = Table("table", header, "what happens")
    for name, count in tables.items():
        action = "anonymized (kept; profile link removed)" if name == "activity" else "deleted"
        table.add_row(name, f"{count:,}", action)
    console.print(table)


def _render_result(data: dict[str, Any]) -> None:
    segment = f"'{data['segment_name']}' ({data['segment_key']})"
    if data["status"] == "previewed":
        preview = data.get("preview") or {}
        console.print(f"Dry run: would delete {data['matched']:,} profiles of segment {segment}.", highlight=False)
        _render_tables(preview.get("tables", {}), "rows")
        console.print(f"Sample: {', '.join(preview.get('sample', [])) or '(none)'}", highlight=False, soft_wrap=True)
        _render_checks((data.get("gate") or {}).get("checks", []), title="Data-quality gate (passed)")
        console.print("Stages a deletion would run:\n" + "\n".join(data.get("plan", [])), highlight=False)
        console.print(f"Nothing was deleted. Job {data['job_id']}.", highlight=False)
        return
    if data["status"] == "held":
        console.print(
            f"Held: {data['matched']:,} profiles of segment {segment} are frozen and gated; they are deleted from "
            f"{data['execute_after']} on unless `segpipe deletion cancel {data['job_id']}`.",
            highlight=False,
            soft_wrap=True,
        )
        return
    console.print(
        f"Deleted {data['deleted_profiles']:,} of {data['matched'] or 0:,} profiles of segment {segment} "
        f"({data['status']}), job {data['job_id']}.",
        highlight=False,
        soft_wrap=True,
    )
    _render_tables(data.get("tables", {}), "rows")
    verification = data.get("verification") or {}
    if verification.get("ok"):
        console.print(
            "Verified: no row of a deleted profile remains; campaign statistics unchanged; the segment is kept. "
            "A deleted profile identified again comes back as a new profile, subscribed by default.",
            highlight=False,
            soft_wrap=True,
        )
