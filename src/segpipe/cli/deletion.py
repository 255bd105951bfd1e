"""`segpipe grant|revoke ACTOR PERMISSION...` and `segpipe delete-profiles KEY ...` (`segpipe deletion ...`: in
deletion_jobs.py).

A missing `--confirm`, `--expect` or `--actor` is a usage error (exit 2); a confirmation that does not match
the segment's name, a missing permission, a count mismatch or any failed data-quality check is a refused
safety gate (exit 3) and deletes nothing.
"""

from __future__ import annotations

import getpass
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from segpipe.cli import context, deletion_jobs
from segpipe.cli.output import JsonOption, console, emit, err_console, fail, handle_errors
from segpipe.progress import NullProgress
from segpipe.progress import Progress as ProgressSink


def register(app: typer.Typer) -> None:
    app.command("grant")(grant_command)
    app.command("revoke")(revoke_command)
    app.command("delete-profiles")(delete_profiles_command)
    deletion_jobs.register(app)


def _operator() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


_PERMISSIONS_HELP = "profiles:view, profiles:edit, segments:edit; profiles:* (both profiles ones) or * (all)."


def grant_command(
    actor: str = typer.Argument(..., help="Who receives the permissions."),
    permissions: list[str] = typer.Argument(..., help=_PERMISSIONS_HELP),
    by: str | None = typer.Option(None, "--by", help="Who grants (recorded in the audit; default: the OS user)."),
    as_json: bool = JsonOption,
) -> None:
    """Grant permissions to an actor (deny by default); every change is recorded in the grant audit."""
    with handle_errors(as_json):
        from segpipe.permissions import grant

        with context.engine().begin() as conn:
            change = grant(conn, actor, permissions, by or _operator())
        emit(change, as_json, _render_change)


def revoke_command(
    actor: str = typer.Argument(..., help="Whose permissions to take away."),
    permissions: list[str] = typer.Argument(..., help=_PERMISSIONS_HELP),
    by: str | None = typer.Option(None, "--by", help="Who revokes (recorded in the audit; default: the OS user)."),
    as_json: bool = JsonOption,
) -> None:
    """Revoke permissions from an actor; every change is recorded in the grant audit."""
    with handle_errors(as_json):
        from segpipe.permissions import revoke

        with context.engine().begin() as conn:
            change = revoke(conn, actor, permissions, by or _operator())
        emit(change, as_json, _render_change)


def _render_change(change: Any) -> None:
    verb = "granted" if change.action == "grant" else "revoked"
    done = ", ".join(change.changed) if change.changed else "nothing (already so)"
    held = ", ".join(change.permissions) if change.permissions else "no permissions"
    console.print(f"{change.actor}: {verb} {done}; now holds {held}.", highlight=False, soft_wrap=True)


class RichDeletionProgress:
    """A Rich bar on stderr counting deleted profiles (the Progress protocol), shown only on a terminal."""

    def __init__(self) -> None:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        self._bar = Progress(*columns, console=err_console, transient=True)
        self._task: Any = None

    def start(self, total: int | None, description: str = "") -> None:
        self._bar.start()
        self._task = self._bar.add_task(description or "delete profiles", total=total)

    def advance(self, steps: int = 1, description: str | None = None) -> None:
        label = f"delete profiles ({description})" if description else None
        self._bar.update(self._task, advance=steps, description=label)

    def finish(self) -> None:
        self._bar.stop()


def _progress(as_json: bool) -> ProgressSink:
    return RichDeletionProgress() if err_console.is_terminal and not as_json else NullProgress()


def delete_profiles_command(
    key: str = typer.Argument(..., help="The segment whose members are deleted."),
    confirm: str = typer.Option(..., "--confirm", help="The segment's exact current name."),
    expect: int = typer.Option(..., "--expect", help="The number of profiles you saw in the segment."),
    actor: str = typer.Option(..., "--actor", help="Who deletes (needs profiles:view and profiles:edit)."),
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
) -> Any:
    from segpipe.deletion import DeletionRequest, resume, run_deletion
    from segpipe.deletion.jobs import parse_job_id
    from segpipe.errors import InvalidInput

    dry_run, batch_size, max_share, tolerance, hold_days = options
    request = DeletionRequest(key, actor, expect, confirm, dry_run, batch_size, max_share, tolerance, hold_days)
    request.validate()
    engine = context.engine()
    if job is None:
        return run_deletion(engine, request, _progress(as_json))
    if dry_run or hold_days is not None:
        flag = "--dry-run" if dry_run else "--hold-days"
        raise InvalidInput("starts a new job; leave out --job", where=flag)
    job_id = parse_job_id(job, where="--job")
    return resume(engine, job_id, _progress(as_json), actor=actor, segment_key=key, confirm=confirm, expected=expect)


def _exit_for(status: str) -> int:
    return 3 if status in ("refused", "cancelled") else 1


def _refused(exc: Any, as_json: bool) -> None:
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
