"""`segpipe deletion show|list|lookup|cancel|run-due`: operating deletion jobs (docs/deletion.md).

Cancelling an unknown job is exit 2; cancelling a job that already ended (completed, refused, previewed,
cancelled) is a refused gate, exit 3 (`finished`). `run-due` exits 1 when a due job did not complete.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from segpipe.cli import context, groups
from segpipe.cli.output import JsonOption, console, emit, fail, handle_errors

if TYPE_CHECKING:
    from segpipe.deletion.run import DeletionResult


def register(app: typer.Typer) -> None:
    groups.deletion.command("show")(show_command)
    groups.deletion.command("list")(list_command)
    groups.deletion.command("lookup")(lookup_command)
    groups.deletion.command("cancel")(cancel_command)
    groups.deletion.command("run-due")(run_due_command)


def result_json(result: DeletionResult) -> dict[str, Any]:
    """A DeletionResult as the contract's JSON: `job_id, status, matched, deleted_profiles` first."""
    data = result.to_json()
    return {
        "job_id": data.pop("job_id"),
        "status": data.pop("status"),
        "matched": data.pop("matched"),
        "deleted_profiles": data.pop("deleted_profiles"),
        **data,
    }


def show_command(job: str = typer.Argument(..., help="The deletion job id."), as_json: bool = JsonOption) -> None:
    """Print a deletion job, its stages and its audit trail (no personal data: external ids only as salted
    hashes)."""
    with handle_errors(as_json):
        from segpipe.deletion import result_of
        from segpipe.deletion.audit import audit_rows
        from segpipe.deletion.jobs import parse_job_id

        job_id = parse_job_id(job)
        engine = context.engine()
        data = result_json(result_of(engine, job_id))
        with engine.connect() as conn:
            data["audit"] = [
                {"id": row.id, "at": row.at, "step": row.step, "detail": row.detail} for row in audit_rows(conn, job_id)
            ]
        emit(data, as_json, _render_show)


def _render_show(data: dict[str, Any]) -> None:
    from segpipe.deletion.explain import summarize_audit

    held = f", held until {data['execute_after']}" if data.get("execute_after") else ""
    console.print(
        f"Job {data['job_id']} ({data['status']}{held}): segment '{data['segment_name']}' ({data['segment_key']}), "
        f"actor {data['actor']}, expected {data['expected']}, matched {data['matched']}, "
        f"deleted {data['deleted_profiles']:,}, batches {data['batches_done']}/{data['batches'] or 0}"
        f"{', dry run' if data['dry_run'] else ''}.",
        highlight=False,
        soft_wrap=True,
    )
    if data.get("manifest_sha256"):
        console.print(f"Manifest SHA-256: {data['manifest_sha256']}", highlight=False)
    console.print("Stages:\n" + "\n".join(data.get("plan", [])), highlight=False, soft_wrap=True)
    table = Table("#", "at", "step", "detail", title="Audit")
    for row in data["audit"]:
        table.add_row(
            str(row["id"]), f"{row['at']:%Y-%m-%d %H:%M:%S}", row["step"], summarize_audit(row["step"], row["detail"])
        )
    console.print(table)


def list_command(
    limit: int | None = typer.Option(None, "--limit", min=1, help="Show at most N jobs (the newest)."),
    as_json: bool = JsonOption,
) -> None:
    """List deletion jobs, newest first: id, segment, actor, state, matched, deleted, created."""
    with handle_errors(as_json):
        from segpipe.deletion.operations import list_jobs

        with context.engine().connect() as conn:
            rows = [_job_json(job) for job in list_jobs(conn, limit)]
        emit(rows, as_json, _render_list)


def _job_json(job: Any) -> dict[str, Any]:
    return {
        "job_id": str(job.job_id),
        "segment_key": job.segment_key,
        "actor": job.actor,
        "state": job.state,
        "matched": job.matched,
        "deleted_profiles": job.deleted_profiles,
        "created_at": job.created_at,
        "execute_after": job.execute_after,
        "dry_run": job.dry_run,
    }


def _render_list(rows: list[dict[str, Any]]) -> None:
    table = Table("job", "segment", "actor", "state", "matched", "deleted", "created")
    for row in rows:
        state = row["state"] + (" (dry run)" if row["dry_run"] else "")
        if row["execute_after"]:
            state += f" until {row['execute_after']:%Y-%m-%d %H:%M}"
        matched = "-" if row["matched"] is None else f"{row['matched']:,}"
        created = f"{row['created_at']:%Y-%m-%d %H:%M:%S}"
        deleted = f"{row['deleted_profiles']:,}"
        table.add_row(row["job_id"], row["segment_key"], row["actor"], state, matched, deleted, created)
    console.print(table if rows else "No deletion jobs.")


def lookup_command(
    external_id: str = typer.Argument(..., help="The external id to look for (hashed with the salt, never stored)."),
    as_json: bool = JsonOption,
) -> None:
    """Was a profile with this external id deleted, and by which job? (Through the salted hash in the audit.)"""
    with handle_errors(as_json):
        from segpipe.deletion.operations import lookup

        with context.engine().connect() as conn:
            found = lookup(conn, external_id)
        emit({"external_id": external_id, "deleted": found.deleted, "jobs": found.jobs}, as_json, _render_lookup)


def _render_lookup(data: dict[str, Any]) -> None:
    if not data["deleted"]:
        console.print(f"'{data['external_id']}': no deletion job deleted a profile with this id.", highlight=False)
        return
    for job in data["jobs"]:
        console.print(
            f"'{data['external_id']}': deleted by job {job['job_id']} (segment {job['segment_key']}, actor "
            f"{job['actor']}) at {job['deleted_at']:%Y-%m-%d %H:%M:%S %Z}.",
            highlight=False,
            soft_wrap=True,
        )


def cancel_command(job: str = typer.Argument(..., help="The deletion job id."), as_json: bool = JsonOption) -> None:
    """Cancel a deletion job that has not finished (held, waiting for approval or running): it deletes nothing
    more; batches already committed stay deleted and are listed in its audit."""
    with handle_errors(as_json):
        from segpipe.deletion.jobs import parse_job_id
        from segpipe.deletion.operations import cancel_job

        data = result_json(cancel_job(context.engine(), parse_job_id(job)))
        emit(data, as_json, _render_cancelled)


def _render_cancelled(data: dict[str, Any]) -> None:
    console.print(
        f"Cancelled job {data['job_id']} (segment {data['segment_key']}): {data['deleted_profiles']:,} profiles "
        f"were deleted in {data['batches_done']} committed batch(es) before; nothing more will be deleted.",
        highlight=False,
        soft_wrap=True,
    )


def run_due_command(as_json: bool = JsonOption) -> None:
    """Carry out the held deletion jobs whose hold is over (what the scheduled run-due-deletions flow does)."""
    with handle_errors(as_json):
        from segpipe.deletion.operations import run_due

        runs = run_due(context.engine())
        rows = [
            {"job_id": str(r.job_id), "status": r.status, "deleted_profiles": r.deleted_profiles, "error": r.error}
            for r in runs
        ]
        failed = [row for row in rows if row["status"] != "completed"]
        if not failed:
            emit(rows, as_json, _render_due)
            return
        if not as_json:
            _render_due(rows)
        fail(f"{len(failed)} due deletion job(s) did not complete: {failed[0]['error']}", 1, as_json, {"jobs": rows})


def _render_due(rows: list[dict[str, Any]]) -> None:
    if not rows:
        console.print("No held deletion job is due.")
    for row in rows:
        console.print(
            f"Job {row['job_id']}: {row['status']}, {row['deleted_profiles']:,} profiles deleted"
            f"{': ' + row['error'] if row['error'] else ''}.",
            highlight=False,
            soft_wrap=True,
        )
