"""`segpipe segment members KEY`: preview or export a segment's members (refreshed first unless --no-refresh)."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import typer

from segpipe.cli import context, groups
from segpipe.cli.output import JsonOption, emit, err_console, handle_errors
from segpipe.cli.refresh import parse_as_of
from segpipe.errors import GateRefused, InvalidInput, SegpipeError

if TYPE_CHECKING:
    from segpipe import members

PREVIEW_ROWS = 100
_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


@dataclass(frozen=True)
class ExportRequest:
    key: str
    fields: list[members.Field]
    fmt: str
    hash_algorithm: str | None
    limit: int | None
    output: Path | None
    preview: bool


def register(app: typer.Typer) -> None:
    groups.segment.command("members")(members_command)


def _choice(value: str | None, allowed: tuple[str, ...], option: str) -> str | None:
    if value is not None and value not in allowed:
        raise InvalidInput(f"unknown value '{value}' (expected one of {', '.join(allowed)})", where=option)
    return value


def _format(fmt: str | None, output: Path | None, as_json: bool) -> str:
    """Explicit --format, else the output file's extension, else JSON Lines for --json on stdout, else csv."""
    if fmt is not None:
        if as_json and output is None and fmt != "jsonl":
            raise InvalidInput("--json on stdout writes JSON Lines; use --format jsonl or --output", where="--format")
        return fmt
    if output is not None:
        return _EXTENSIONS.get(output.suffix.lower(), "csv")
    return "jsonl" if as_json else "csv"


def build_request(key: str, options: dict[str, Any], as_json: bool) -> ExportRequest:
    """Validate the options (exit 2 on any fault) before anything runs."""
    from segpipe import members

    output: Path | None = options["output"]
    fmt = _format(_choice(options["fmt"], members.FORMATS, "--format"), output, as_json)
    hash_algorithm = _choice(options["hash"], members.HASHES, "--hash")
    if output is not None and not output.parent.is_dir():
        raise InvalidInput(f"directory '{output.parent}' does not exist", where="--output")
    if output is not None and output.is_dir():
        raise InvalidInput(f"'{output}' is a directory; give a file path", where="--output")
    if output is None and fmt == "parquet" and sys.stdout.isatty():
        raise InvalidInput("parquet is binary: write it to a file with --output", where="--format")
    preview = options["limit"] is None and output is None and sys.stdout.isatty()
    limit = PREVIEW_ROWS if preview else options["limit"]
    fields = members.parse_fields(options["fields"])
    return ExportRequest(key, fields, fmt, hash_algorithm, limit, output, preview)


def _refresh_first(key: str, as_of: datetime | None) -> None:
    from segpipe.refresh.engine import refresh

    result = refresh(context.engine(), [key], as_of, trigger="members")
    mine = next(s for s in result.segments if s.key == key)
    if result.held:
        raise GateRefused("held", f"segment '{key}': {result.held_message()}; --no-refresh exports stored members")
    if mine.status != "succeeded":
        detail = mine.error or mine.reason or mine.status
        raise SegpipeError(f"segment '{key}': refresh {mine.status} ({detail}); --no-refresh exports stored members")


@contextlib.contextmanager
def _destination(output: Path | None) -> Iterator[BinaryIO]:
    """stdout, or a temporary file beside `output` that replaces it only once complete (nothing half-written)."""
    if output is None:
        sys.stdout.flush()
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    fd, name = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
        os.replace(name, output)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def _evaluation_time(key: str, as_of: datetime | None) -> datetime | None:
    """The as_of to evaluate at without storing, when it is earlier than the live state of the segment (or of one
    it references): live membership only moves forward. None: refresh as usual."""
    from segpipe.refresh.asof import database_now
    from segpipe.refresh.guard import live_later_than

    with context.engine().connect() as conn:
        at = as_of if as_of is not None else database_now(conn)
        return at if live_later_than(conn, [key], at) else None


def export(request: ExportRequest, evaluate_at: datetime | None = None) -> dict[str, Any]:
    """Export the stored members (or, with `evaluate_at`, the members evaluated then, storing nothing) in one
    consistent read-only snapshot; returns a summary."""
    from segpipe import members
    from segpipe.store.segments import require_segment

    engine = context.engine()
    with engine.connect() as conn:
        conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin():
            segment = require_segment(conn, request.key)
            source = None
            if evaluate_at is not None:
                from segpipe.refresh.asof import evaluate_members

                source = evaluate_members(conn, request.key, evaluate_at)
            with _destination(request.output) as out:
                rows = members.export_members(
                    conn,
                    segment.id,
                    out,
                    fields=request.fields,
                    fmt=request.fmt,
                    hash_algorithm=request.hash_algorithm,
                    limit=request.limit,
                    source=source,
                )
    path = None if request.output is None else str(request.output)
    count = segment.member_count if evaluate_at is None else None
    summary = {"key": request.key, "format": request.fmt, "rows": rows, "member_count": count, "path": path}
    return summary | ({} if evaluate_at is None else {"as_of": evaluate_at.isoformat(), "evaluated": True})


def _render_summary(summary: dict[str, Any]) -> None:
    rows, key, path, fmt = summary["rows"], summary["key"], summary["path"], summary["format"]
    err_console.print(f"wrote {rows:,} member(s) of {key} to {path} ({fmt})", highlight=False)


def members_command(
    key: str = typer.Argument(..., help="Segment key."),
    limit: int | None = typer.Option(None, "--limit", min=0, help="At most N members (default: 100 on a terminal)."),
    fields: str | None = typer.Option(
        None,
        "--fields",
        help="Comma-separated: external_id (always first), email, created_at, attributes (the whole object), "
        "or an attribute name (attributes.NAME). Default: external_id,email.",
    ),
    fmt: str | None = typer.Option(
        None,
        "--format",
        help="csv, jsonl or parquet (default: from --output's extension, else csv; jsonl with --json).",
    ),
    hash_: str | None = typer.Option(
        None,
        "--hash",
        help="md5 or sha256: replace external_id and email by the lowercase hex digest of their UTF-8 text.",
    ),
    output: Path | None = typer.Option(None, "--output", help="Write to this file (atomically) instead of stdout."),
    no_refresh: bool = typer.Option(False, "--no-refresh", help="Export the stored members as they are."),
    as_of: str | None = typer.Option(
        None,
        "--as-of",
        help="Refresh as of this time first (default: now); earlier than the live state: evaluate then and export, "
        "storing nothing.",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Preview or export a segment's members, refreshing it first.

    At an --as-of earlier than the live state (the segment's last refresh, or a referenced segment's), the
    members are evaluated at that time and exported; nothing is stored (live membership only moves forward).
    """
    from segpipe.store.segments import require_segment

    with handle_errors(as_json):
        options = {"limit": limit, "fields": fields, "fmt": fmt, "hash": hash_, "output": output}
        request = build_request(key, options, as_json)
        if no_refresh and as_of is not None:
            raise InvalidInput("--as-of needs a refresh; drop --no-refresh", where="--as-of")
        when = parse_as_of(as_of)
        with context.engine().connect() as conn:
            require_segment(conn, key)
        evaluate_at = None if no_refresh else _evaluation_time(key, when)
        if not no_refresh and evaluate_at is None:
            _refresh_first(key, when)
        summary = export(request, evaluate_at)
        if request.output is not None:
            emit(summary, as_json, _render_summary)
        elif request.preview and summary["member_count"] is not None and summary["rows"] < summary["member_count"]:
            shown = f"showing {summary['rows']:,} of {summary['member_count']:,} members"
            err_console.print(f"{shown}; --limit N or --output PATH for more", highlight=False)
