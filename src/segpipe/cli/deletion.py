"""`segpipe delete-profiles KEY ...` and `segpipe deletion show JOB` (grants: `segpipe.cli.permissions`).

A missing `--confirm`, `--expect` or `--actor` is a usage error (exit 2); a confirmation that does not match
the segment's name, a missing permission, a count mismatch or any failed data-quality check is a refused
safety gate (exit 3) and deletes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from segpipe.cli import context, groups
from segpipe.cli.output import JsonOption, console, emit, fail, handle_errors
from segpipe.cli.progress import progress_for
from segpipe.progress import Progress as ProgressSink

if TYPE_CHECKING:
    from segpipe.deletion.gates import DeletionRefused
    from segpipe.deletion.run import DeletionResult


def register(app: typer.Typer) -> None:
    app.command("delete-profiles")(delete_profiles_command)
    groups.deletion.command("show")(show_command)


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
    as_json: bool = JsonOption,
) -> None:
    """Delete every profile of a segment: audited, gated by Great Expectations, in resumable batches."""
    with handle_errors(as_json):
        from segpipe.deletion import DeletionRefused

        try:
            result = _run(key, confirm, expect, actor, dry_run, batch_size, max_share, tolerance, job, as_json)
        except DeletionRefused as exc:
            _refused(exc, as_json)
        data = _result_json(result)
        if result.status in ("completed", "previewed"):
            emit(data, as_json, _render_result)
            return
        if not as_json:
            _render_result(data)
        message = data.pop("error") or f"deletion job {result.job_id} is {result.status}"
        fail(message, _exit_for(result.status), as_json, data)


def _run(
    key: str,
    confirm: str,
    expect: int,
    actor: str,
    dry_run: bool,
    batch_size: int | None,
    max_share: float,
    tolerance: int,
    job: str | None,
    as_json: bool,
) -> DeletionResult:
    from segpipe.actors import resolve_actor
    from segpipe.deletion import DeletionRequest, resume, run_deletion
    from segpipe.deletion.jobs import parse_job_id
    from segpipe.errors import InvalidInput

    request = DeletionRequest(key, actor, expect, confirm, dry_run, batch_size, max_share, tolerance)
    request.validate()
    engine = context.engine()
    with engine.connect() as conn:
        actor = resolve_actor(conn, actor, "delete-profiles").actor
    if job is None:
        return run_deletion(engine, request, _progress(as_json))
    if dry_run:
        raise InvalidInput("a dry run starts a new job; leave out --job", where="--dry-run")
    job_id = parse_job_id(job, where="--job")
    return resume(engine, job_id, _progress(as_json), actor=actor, segment_key=key, confirm=confirm, expected=expect)


def _exit_for(status: str) -> int:
    return 3 if status == "refused" else 1


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


def _result_json(result: DeletionResult) -> dict[str, Any]:
    data = result.to_dict()
    return {
        "job_id": data.pop("job_id"),
        "status": data.pop("status"),
        "matched": data.pop("matched"),
        "deleted_profiles": data.pop("deleted_profiles"),
        **data,
    }


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
        console.print(f"Nothing was deleted. Job {data['job_id']}.", highlight=False)
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


def show_command(job: str = typer.Argument(..., help="The deletion job id."), as_json: bool = JsonOption) -> None:
    """Print a deletion job and its audit trail (no personal data: external ids only as salted hashes)."""
    with handle_errors(as_json):
        from segpipe.deletion import result_of
        from segpipe.deletion.audit import audit_rows
        from segpipe.deletion.jobs import parse_job_id

        job_id = parse_job_id(job)
        engine = context.engine()
        data = _result_json(result_of(engine, job_id))
        with engine.connect() as conn:
            data["audit"] = [
                {"id": row.id, "at": row.at, "step": row.step, "detail": row.detail} for row in audit_rows(conn, job_id)
            ]
        emit(data, as_json, _render_show)


def _render_show(data: dict[str, Any]) -> None:
    from segpipe.deletion.explain import summarize_audit

    console.print(
        f"Job {data['job_id']} ({data['status']}): segment '{data['segment_name']}' ({data['segment_key']}), "
        f"actor {data['actor']}, expected {data['expected']}, matched {data['matched']}, "
        f"deleted {data['deleted_profiles']:,}, batches {data['batches_done']}/{data['batches'] or 0}"
        f"{', dry run' if data['dry_run'] else ''}.",
        highlight=False,
        soft_wrap=True,
    )
    if data.get("manifest_sha256"):
        console.print(f"Manifest SHA-256: {data['manifest_sha256']}", highlight=False)
    table = Table("#", "at", "step", "detail", title="Audit")
    for row in data["audit"]:
        table.add_row(
            str(row["id"]), f"{row['at']:%Y-%m-%d %H:%M:%S}", row["step"], summarize_audit(row["step"], row["detail"])
        )
    console.print(table)
