"""`segpipe presend CAMPAIGN [--as-of TIME] [--allow-empty] [--max-change F]`: the pre-send refresh.

Refreshes the campaign's segments, snapshots its audience (immutable), checks it with Great Expectations and
prints the snapshot id and count, then one line per quality check (`--json`: a `checks` list of name, expected,
observed, success; also in the error's `details` when refused). A refused check → exit 3 (the snapshot stays
`refused`); an unknown campaign → exit 2; a sent or cancelled campaign → exit 3 (gate `campaign-status`); a
held segment refresh → exit 3 (gate `held`). An --as-of earlier than the segments' live state snapshots an as-of
evaluation without refreshing (docs/refresh.md, "Time only moves forward"). See docs/orchestration.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import typer
from rich.console import Console

from segpipe.cli import context, orchestration
from segpipe.cli.output import JsonOption, console, emit, err_console, handle_errors
from segpipe.cli.progress import progress_for
from segpipe.cli.refresh import parse_as_of
from segpipe.defaults import DEFAULT_MAX_CHANGE
from segpipe.errors import GateRefused
from segpipe.progress import Progress


def register(app: typer.Typer) -> None:
    app.command("presend")(presend_command)


def run_presend(
    campaign: str, as_of: datetime | None, *, allow_empty: bool, max_change: float, progress: Progress
) -> dict[str, Any]:
    """The pre-send refresh through the Prefect flow when configured, else directly; the same JSON-ready result."""
    from segpipe.refresh.presend import check_options

    check_options(max_change)
    if orchestration.use_prefect():
        orchestration.quiet_prefect()
        from flows import cli as flows_cli

        return flows_cli.presend(campaign, as_of, allow_empty=allow_empty, max_change=max_change, progress=progress)
    from segpipe.refresh.presend import presend

    result = presend(
        context.engine(), campaign, as_of, allow_empty=allow_empty, max_change=max_change, progress=progress
    )
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in result.to_json().items()}


def _render_checks(checks: list[dict[str, Any]], to: Console) -> None:
    """One line per quality check: `✓ not_empty: expected ≥ 1, observed 2,459`."""
    from segpipe.humanize import plain, words

    for check in checks:
        mark = "ok  " if check["success"] else "FAIL" if check.get("blocking", True) else "warn"
        error = f" ({check['error']})" if check.get("error") else ""
        to.print(
            f"  {mark} {check['name']}: expected {words(str(check['expected']))}, observed "
            f"{plain(check.get('observed')) or '-'}{error}",
            highlight=False,
            markup=False,
        )


def _render(data: dict[str, Any]) -> None:
    previous = (
        f"; previous ready snapshot {data['previous_snapshot_id']}: {data['previous_count']:,}"
        if data.get("previous_snapshot_id")
        else ""
    )
    console.print(
        f"snapshot {data['snapshot_id']}: {data['count']:,} profiles for campaign '{data['campaign']}' "
        f"({data['status']}, as of {data['as_of']}{previous})",
        highlight=False,
        markup=False,
    )
    _render_checks(data.get("checks", []), console)


def _with_checks(exc: GateRefused, as_json: bool) -> None:
    """A refused audience still shows its checks: in the JSON error's `checks`, or as lines on stderr."""
    report = exc.details.get("report") if isinstance(exc.details, dict) else None
    if not isinstance(report, dict) or not isinstance(exc.details, dict):
        return
    exc.details["checks"] = report.get("checks", [])
    if not as_json:
        _render_checks(exc.details["checks"], err_console)


def presend_command(
    campaign: str = typer.Argument(..., metavar="CAMPAIGN", help="The campaign's key."),
    as_of: str | None = typer.Option(
        None,
        "--as-of",
        help="Evaluate the audience as of this time (default: now). Earlier than the segments' last refresh: the "
        "snapshot is an as-of evaluation and live membership is left alone.",
    ),
    allow_empty: bool = typer.Option(False, "--allow-empty", help="Accept an empty audience (a warning only)."),
    max_change: float = typer.Option(
        DEFAULT_MAX_CHANGE, "--max-change", help="Largest accepted change against the previous snapshot (0.5 = ±50%)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Refresh a campaign's segments and snapshot its audience; prints the snapshot id and count.

    Runs the presend flow when a Prefect API is configured, else directly; SEGPIPE_ORCHESTRATION=auto|prefect|direct
    chooses (auto by default). Exit 3 when a check refuses the audience (the snapshot is kept as `refused`).
    """
    with handle_errors(as_json):
        when = parse_as_of(as_of)
        try:
            data = run_presend(
                campaign, when, allow_empty=allow_empty, max_change=max_change, progress=progress_for(as_json)
            )
        except GateRefused as exc:
            _with_checks(exc, as_json)
            raise
        emit(data, as_json, _render)
