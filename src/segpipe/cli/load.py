"""`segpipe load KIND PATH`, `segpipe identify EXTERNAL_ID` and `segpipe campaign stats KEY`."""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from segpipe.cli import context, groups
from segpipe.cli.output import JsonOption, console, emit, handle_errors
from segpipe.errors import InvalidInput

if TYPE_CHECKING:
    from segpipe.load.loader import LoadResult
    from segpipe.tracking import Identified


def register(app: typer.Typer) -> None:
    app.command("load")(load_command)
    app.command("identify")(identify_command)
    groups.campaign.command("stats")(campaign_stats_command)


def load_command(
    kind: str = typer.Argument(..., help="profiles, events, subscriptions or activity."),
    path: str = typer.Argument(..., help=".csv, .jsonl/.ndjson or .parquet file; - reads JSON Lines from stdin."),
    skip_invalid: bool = typer.Option(
        False, "--skip-invalid", help="Load the valid rows; write the invalid ones to a reject file beside the input."
    ),
    rejects: Path | None = typer.Option(None, "--rejects", help="Reject file path (with --skip-invalid)."),
    as_json: bool = JsonOption,
) -> None:
    """Load customer data from a file: atomic, streamed, COPY into staging, then one set-based merge."""
    with handle_errors(as_json):
        from segpipe.load.kinds import get_kind
        from segpipe.load.loader import load
        from segpipe.load.readers import open_source

        get_kind(kind)
        source = open_source(path)
        result = load(context.engine(), kind, source, skip_invalid=skip_invalid, rejects_path=rejects)
        if not result.rejected:
            emit(result, as_json, _render_load)
            return
        # Invalid input was skipped, not ignored: the valid rows are written, and the exit code still says 2.
        message = f"{result.file}: {result.rejected} invalid row(s) skipped, written to {result.rejects_file}"
        emit({**asdict(result), "error": message, "exit_code": 2}, as_json, lambda _: _render_load(result))
        sys.stderr.write(f"error: {message}\n")
        raise typer.Exit(2)


def _render_load(result: LoadResult) -> None:
    console.print(
        f"Loaded {result.rows} {result.kind} row(s) from {result.file}: {result.inserted} new, "
        f"{result.updated} updated, {result.already_known} already known, "
        f"{result.skipped_duplicates} duplicate(s) skipped, {result.profiles_created} profile(s) created.",
        highlight=False,
        soft_wrap=True,
    )
    if result.rejects_file is not None:
        console.print(
            f"{result.rejected} row(s) rejected, written to {result.rejects_file}", highlight=False, soft_wrap=True
        )
    if result.ignored_fields:
        console.print(f"Ignored unknown field(s): {', '.join(result.ignored_fields)}", highlight=False, soft_wrap=True)


def parse_attr(text: str) -> tuple[str, Any]:
    """`k=v`: v is JSON when it parses as strict JSON (42, true, null, "x", {...}), else the plain string
    (so `NaN` and `Infinity`, which are not JSON, stay text)."""
    from segpipe.load.validate import loads

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise InvalidInput(f"expected KEY=VALUE, got '{text}'", where="--attr")
    try:
        return key, loads(value)
    except ValueError:
        return key, value


def identify_command(
    external_id: str = typer.Argument(..., help="The profile's external id."),
    attr: list[str] = typer.Option([], "--attr", help="KEY=VALUE (repeatable); VALUE null removes the attribute."),
    email: str | None = typer.Option(None, "--email", help="Set the email."),
    as_json: bool = JsonOption,
) -> None:
    """Create or update one profile (a deleted profile identified again is a new profile)."""
    with handle_errors(as_json):
        from segpipe.tracking import identify

        attributes = dict(parse_attr(item) for item in attr) if attr else None
        result = identify(external_id, attributes, email, settings=context.settings())
        emit(result, as_json, _render_identified)


def _render_identified(result: Identified) -> None:
    state = "created" if result.created else "updated" if result.updated else "unchanged"
    console.print(f"Profile {result.external_id} (id {result.profile_id}) {state}.", highlight=False, soft_wrap=True)


def campaign_stats_command(
    key: str = typer.Argument(..., help="The campaign key."), as_json: bool = JsonOption
) -> None:
    """Message-activity counts by kind (every kind listed, 0 when absent); unchanged by profile deletion."""
    with handle_errors(as_json):
        from segpipe.load.stats import campaign_stats

        with context.engine().connect() as conn:
            stats = campaign_stats(conn, key)
        emit(stats, as_json, _render_stats)


def _render_stats(stats: dict[str, int]) -> None:
    table = Table("kind", "count")
    for kind, count in stats.items():
        table.add_row(kind, str(count))
    console.print(table)
