"""`segpipe refresh [KEY...] [--all] [--as-of TIME]`: refresh segments (dependencies first) and print the outcome."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from segpipe.cli import context, orchestration
from segpipe.cli.output import JsonOption, console, emit, err_console, handle_errors
from segpipe.errors import InvalidInput
from segpipe.progress import NullProgress
from segpipe.progress import Progress as ProgressSink
from segpipe.refresh.engine import RefreshRunResult
from segpipe.timeutil import parse_timestamp


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
) -> RefreshRunResult:
    """The one place the CLI starts a refresh run (None: refresh-all): the Prefect flow or the engine directly.

    `prefer_flow` runs the flow in `auto` mode even without a configured Prefect API (a temporary local server).
    """
    if orchestration.use_prefect(auto_means_prefect=prefer_flow):
        orchestration.quiet_prefect()
        from flows import cli as flows_cli

        return flows_cli.refresh(keys, as_of, trigger=trigger, force=force, progress=progress)
    from segpipe.refresh.engine import refresh

    return refresh(context.engine(), keys, as_of, trigger=trigger, force=force, progress=progress)


class RichProgress:
    """A Rich progress bar on stderr (the Progress protocol), shown only on a terminal."""

    def __init__(self) -> None:
        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
        )
        self._task: Any = None

    def start(self, total: int | None, description: str = "") -> None:
        self._bar.start()
        self._task = self._bar.add_task(description or "refresh", total=total)

    def advance(self, steps: int = 1, description: str | None = None) -> None:
        label = {"description": f"refresh {description}"} if description else {}
        self._bar.update(self._task, advance=steps, **label)

    def finish(self) -> None:
        self._bar.stop()


def progress_for(as_json: bool) -> ProgressSink:
    return RichProgress() if err_console.is_terminal and not as_json else NullProgress()


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


_STYLE = {"succeeded": "green", "failed": "bold red", "skipped": "yellow", "cancelled": "red"}


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
    as_json: bool = JsonOption,
) -> None:
    """Refresh segments, dependencies first; exit 1 when any segment failed.

    Runs the refresh flow when a Prefect API is configured (the run shows in the Prefect UI), else the engine.
    SEGPIPE_ORCHESTRATION=auto|prefect|direct chooses (auto by default); the output is the same.
    """
    with handle_errors(as_json):
        if bool(keys) == all_:
            raise InvalidInput("give segment keys or --all (one of them)", where="refresh")
        when = parse_as_of(as_of)
        result = run_refresh(None if all_ else keys, when, force=force, progress=progress_for(as_json))
        emit(result_rows(result), as_json, render_rows)
        if result.failed:
            sys.stderr.write(f"error: refresh failed for {len(result.failed)} segment(s): {', '.join(result.failed)}\n")
            raise typer.Exit(1)
