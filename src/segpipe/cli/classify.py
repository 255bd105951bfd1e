"""`segpipe classify [--as-of TIME] [--grace DURATION]`: the inactivity classification (contract §5, docs/lifecycle.md).

Due scheduled activations/deactivations are carried out first; segments a scheduled activation made active are
refreshed right after. `--json` prints one object per segment (see docs/lifecycle.md).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table

from segpipe.cli import context
from segpipe.cli.output import JsonOption, console, emit, handle_errors
from segpipe.cli.refresh import result_rows
from segpipe.cli.segment_ops import parse_time
from segpipe.defaults import DEFAULT_GRACE
from segpipe.errors import InvalidInput

if TYPE_CHECKING:
    from segpipe.lifecycle.classify import ClassifyResult


def register(app: typer.Typer) -> None:
    app.command("classify")(classify_command)


def classify_rows(result: ClassifyResult, refreshed: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    schedules: dict[str, list[dict[str, Any]]] = {}
    for change in result.schedules:
        schedules.setdefault(change.key, []).append(change.to_json())
    rows = []
    for item in result.segments:
        row = {**item.to_json(), "as_of": result.as_of}
        if item.key in schedules:
            row["schedule"] = schedules[item.key]
        if item.key in refreshed:
            row["refresh"] = refreshed[item.key]
        rows.append(row)
    return rows


def _render(rows: list[dict[str, Any]]) -> None:
    changed = [row for row in rows if row["changed"] or row.get("schedule")]
    if changed:
        table = Table(title=f"classify as of {rows[0]['as_of']:%Y-%m-%d %H:%M:%S} UTC")
        for name in ("segment", "change", "reason"):
            table.add_column(name)
        for row in changed:
            change = f"{row['old_status']} → {row['status']}" if row["changed"] else f"{row['status']} (unchanged)"
            table.add_row(escape(row["key"]), change, escape(row["reason"]))
        console.print(table)
    active = sum(row["status"] == "active" for row in rows)
    live = sum(row["live"] for row in rows)
    console.print(
        f"{len(rows)} segment(s): {active} active ({live} in live use), {len(rows) - active} inactive; "
        f"{sum(row['changed'] for row in rows)} changed",
        highlight=False,
    )


_UNIT = r"(w|weeks?|d|days?|h|hrs?|hours?|m|mins?|minutes?)?"
_GRACE_RE = re.compile(rf"(\d+(?:\.\d*)?|\.\d+)\s*{_UNIT}")
_ISO_RE = re.compile(r"p(?:(\d+(?:\.\d+)?)w)?(?:(\d+(?:\.\d+)?)d)?(?:t(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?)?")
_GRACE_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}


def parse_grace(text: str) -> timedelta:
    """`14` (days), a number with a unit (`2w`, `14d`, `14 days`, `36h`, `90m`) or ISO 8601 (`P14D`, `PT36H`)."""
    value = text.strip().lower()
    try:
        if (match := _GRACE_RE.fullmatch(value)) is not None:
            return timedelta(**{_GRACE_UNITS[(match[2] or "d")[0]]: float(match[1])})
        if (iso := _ISO_RE.fullmatch(value)) is not None and any(iso.groups()) and not value.endswith("t"):
            weeks, days, hours, minutes = (float(part or 0) for part in iso.groups())
            return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes)
    except OverflowError:
        raise InvalidInput(f"{text!r} is too long a grace period", "--grace") from None
    raise InvalidInput(
        f"expected a number of days (14) or a duration such as 14d, 36h, 90m, P14D; got {text!r}", "--grace"
    )


def classify_command(
    as_of: str | None = typer.Option(None, "--as-of", help="Classify as of this time (default: now)."),
    grace: str = typer.Option(
        str(DEFAULT_GRACE.days),
        "--grace",
        help="How long without live use before a segment becomes inactive: days (14), or 2w, 14d, 36h, 90m, P14D.",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Mark segments in live use active and those without live use for the grace period inactive."""
    from segpipe.lifecycle.classify import classify

    with handle_errors(as_json):
        when = parse_time(as_of, "--as-of")
        period = parse_grace(grace)
        engine = context.engine()
        with engine.begin() as conn:
            result = classify(conn, when, period)
        refreshed: dict[str, dict[str, Any]] = {}
        if result.refresh_keys:
            from segpipe.refresh.engine import refresh

            run = refresh(engine, result.refresh_keys, when, trigger="schedule")
            refreshed = {row["key"]: row for row in result_rows(run)}
        emit(classify_rows(result, refreshed), as_json, _render)
