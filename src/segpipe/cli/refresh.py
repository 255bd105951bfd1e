"""`segpipe refresh [KEY...] [--all] [--as-of TIME]`: refresh segments (dependencies first) and print the outcome."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from segpipe.cli import context, orchestration
from segpipe.cli.output import JsonOption, console, emit, handle_errors
from segpipe.cli.progress import progress_for
from segpipe.errors import InvalidInput
from segpipe.progress import Progress as ProgressSink
from segpipe.timeutil import parse_timestamp

if TYPE_CHECKING:
    from segpipe.refresh.engine import RefreshRunResult


def register(app: typer.Typer) -> None:
    app.command("refresh")(refresh_command)


def parse_as_of(text: str | None) -> datetime | None:
    """`--as-of` as an aware UTC time (None when not given); bad text is invalid input (exit 2)."""
    if text is None:
        return None
    try:
        return parse_timestamp(text)
    except ValueError as exc:
        raise InvalidInput(str(exc), where="--as-of") from None


def run_refresh(
    keys: Iterable[str] | None,
    as_of: datetime | None,
    *,
    trigger: str = "cli",
    force: bool = False,
    progress: ProgressSink | None = None,
    prefer_flow: bool = False,
    accept_drop: bool = False,
    rewind: bool = False,
) -> RefreshRunResult:
    """The one place the CLI starts a refresh run (None: refresh-all): the Prefect flow or the engine directly.

    `prefer_flow` runs the flow in `auto` mode even without a configured Prefect API (a temporary local server).
    """
    if orchestration.use_prefect(auto_means_prefect=prefer_flow):
        orchestration.quiet_prefect()
        from flows import cli as flows_cli

        return flows_cli.refresh(
            keys, as_of, trigger=trigger, force=force, progress=progress, accept_drop=accept_drop, rewind=rewind
        )
    from segpipe.refresh.engine import refresh

    engine = context.engine()
    return refresh(
        engine, keys, as_of, trigger=trigger, force=force, progress=progress, accept_drop=accept_drop, rewind=rewind
    )


def result_rows(result: RefreshRunResult) -> list[dict[str, Any]]:
    """The `--json` shape (contract §6): one object per segment."""
    return [
        {
            "key": s.key,
            "status": s.status,
            "member_count": s.member_count,
            "added": s.added,
            "removed": s.removed,
            "mode": s.mode,
            "evaluated": s.evaluated,
            "duration_ms": None if s.duration_ms is None else round(s.duration_ms, 1),
            "reason": s.reason,
            "error": s.error,
            "run_id": result.run_id,
            "as_of": result.as_of,
        }
        for s in result.segments
    ]


_STYLE = {"succeeded": "green", "failed": "bold red", "skipped": "yellow", "cancelled": "red", "held": "bold magenta"}


def _number(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def _note(row: dict[str, Any]) -> str:
    """The error or skip reason; for a computed segment, why it was stale is noise (it is in --json)."""
    if row["status"] == "succeeded" and row["reason"] != "up to date":
        return ""
    return row["error"] or row["reason"] or ""


def render_rows(rows: list[dict[str, Any]]) -> None:
    table = Table(title=f"refresh as of {rows[0]['as_of']:%Y-%m-%d %H:%M:%S %Z}" if rows else "refresh")
    numeric = ("members", "added", "removed", "evaluated", "duration")
    for name in ("segment", "status", "members", "added", "removed", "mode", "evaluated", "duration", "note"):
        table.add_column(name, justify="right" if name in numeric else "left")
    for row in rows:
        duration = "" if row["duration_ms"] is None else f"{row['duration_ms'] / 1000:.2f} s"
        table.add_row(
            row["key"],
            f"[{_STYLE.get(row['status'], '')}]{row['status']}[/]",
            _number(row["member_count"]),
            _number(row["added"]),
            _number(row["removed"]),
            row["mode"] or "",
            _number(row["evaluated"]),
            duration,
            _note(row),
        )
    console.print(table)


def refresh_command(
    keys: list[str] | None = typer.Argument(None, metavar="KEY", help="Segments to refresh."),
    all_: bool = typer.Option(False, "--all", help="Refresh every active segment (inactive ones are skipped)."),
    as_of: str | None = typer.Option(None, "--as-of", help="Evaluate rules as of this time (default: now)."),
    force: bool = typer.Option(False, "--force", help="Recompute even segments that are up to date."),
    accept_drop: bool = typer.Option(
        False,
        "--accept-drop",
        help="Publish a refresh of the named segments that removes more than their max_drop share of members "
        "while they are used live (else it is held: members unchanged, exit 3). Audited.",
    ),
    rewind: bool = typer.Option(
        False,
        "--rewind",
        help="Allow --as-of earlier than a segment's last refresh: replace its live members by the earlier ones "
        "(else refused, exit 3). Recorded.",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Refresh segments, dependencies first; exit 1 when any segment failed, 3 when one was held.

    Runs the refresh flow when a Prefect API is configured (the run shows in the Prefect UI), else the engine.
    SEGPIPE_ORCHESTRATION=auto|prefect|direct chooses (auto by default); the output is the same.
    """
    with handle_errors(as_json):
        if bool(keys) == all_:
            raise InvalidInput("give segment keys or --all (one of them)", where="refresh")
        if accept_drop and all_:
            raise InvalidInput("name the segments whose drop you accept (not with --all)", where="--accept-drop")
        when = parse_as_of(as_of)
        progress = progress_for(as_json)
        selection = None if all_ else keys
        result = run_refresh(selection, when, force=force, progress=progress, accept_drop=accept_drop, rewind=rewind)
        emit(result_rows(result), as_json, render_rows)
        _exit_for(result)


def _exit_for(result: RefreshRunResult) -> None:
    """Exit 1 when a segment failed, else 3 when one was held (a gate), else return (exit 0)."""
    if result.failed:
        sys.stderr.write(f"error: refresh failed for {len(result.failed)} segment(s): {', '.join(result.failed)}\n")
        raise typer.Exit(1)
    if result.held:
        sys.stderr.write(f"error: {result.held_message()}\n")
        raise typer.Exit(3)
