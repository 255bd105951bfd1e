"""`segpipe segment archive|unarchive|resume|clone|rename|delete|schedule` (docs/lifecycle.md).

Bulk forms run each key in its own transaction and report per key. With `--json` they print a list of per-key
objects; when a key was refused they print instead `{"error", "exit_code", "results": [...]}` and exit 3 when
a gate refused a key (references, refresh in progress, confirmation), else 2 (unknown key, missing --yes).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from segpipe.cli import context, groups
from segpipe.cli.history import history_command
from segpipe.cli.output import JsonOption, console, emit, fail, handle_errors
from segpipe.cli.refresh import result_rows
from segpipe.errors import InvalidInput
from segpipe.timeutil import parse_timestamp

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from segpipe.lifecycle import operations as ops
    from segpipe.lifecycle.bulk import Outcome

KeysArgument = typer.Argument(..., metavar="KEY", help="Segment keys.")
ActorOption = typer.Option(
    None, "--actor", help="Admins only: act on behalf of this actor (default: your own database role); recorded."
)


def register() -> None:
    groups.segment.command("archive")(archive_command)
    groups.segment.command("unarchive")(unarchive_command)
    groups.segment.command("resume")(resume_command)
    groups.segment.command("deactivate")(deactivate_command)
    groups.segment.command("history")(history_command)
    groups.segment.command("clone")(clone_command)
    groups.segment.command("rename")(rename_command)
    groups.segment.command("delete")(delete_command)
    groups.segment.command("schedule")(schedule_command)


def editing_actor(engine: Engine, claimed: str | None, command: str) -> str:
    """The authenticated actor's label (`alice`, `root on behalf of alice`), once it holds segments:edit.

    Refusals exit 3 (gate `actor` or `permission`) with a security_audit row (docs/security.md).
    """
    from segpipe.actors import resolve_actor
    from segpipe.permissions import SEGMENTS_EDIT, require_permission

    with engine.connect() as conn:
        actor = resolve_actor(conn, claimed, command)
        require_permission(conn, actor, SEGMENTS_EDIT, command)
    return actor.label


def parse_time(text: str | None, where: str) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_timestamp(text)
    except ValueError as exc:
        raise InvalidInput(str(exc), where=where) from None


def _render_outcomes(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        style = "green" if row["ok"] else "red"
        detail = f": {escape(row['message'])}" if row.get("message") else ""
        console.print(f"[{style}]{escape(row['key'])}  {row['outcome']}[/{style}]{detail}", highlight=False)


def report(outcomes: list[Outcome], as_json: bool, rows: list[dict[str, Any]] | None = None) -> None:
    """Print the per-key results; exit 3 / 2 (bulk_exit_code) with one error line when a key was refused."""
    from segpipe.lifecycle.bulk import bulk_exit_code

    rows = rows if rows is not None else [outcome.to_json() for outcome in outcomes]
    code = bulk_exit_code(outcomes)
    if code == 0:
        emit(rows, as_json, _render_outcomes)
        return
    if not as_json:
        _render_outcomes(rows)
    bad = [outcome for outcome in outcomes if not outcome.ok]
    more = f" (+{len(bad) - 1} more)" if len(bad) > 1 else ""
    gates = sorted({o.gate for o in bad if o.gate})
    first = next(outcome for outcome in bad if outcome.exit_code == code)
    fail(
        f"{first.message}{more}",
        code,
        as_json,
        {"results": rows, **({"gate": gates[0]} if gates else {})},
    )


def _bulk(keys: list[str], operation: Callable[..., Outcome], actor: str | None, command: str, as_json: bool) -> None:
    from segpipe.lifecycle.bulk import run_per_key

    with handle_errors(as_json):
        engine = context.engine()
        label = editing_actor(engine, actor, command)
        report(run_per_key(engine, keys, partial(operation, actor=label)), as_json)


def archive_command(
    keys: list[str] = KeysArgument, actor: str | None = ActorOption, as_json: bool = JsonOption
) -> None:
    """Archive segments: out of the default list; still in usage listings and refreshed while referenced."""
    from segpipe.lifecycle.operations import archive_segment

    _bulk(keys, archive_segment, actor, "segment archive", as_json)


def unarchive_command(
    keys: list[str] = KeysArgument, actor: str | None = ActorOption, as_json: bool = JsonOption
) -> None:
    """Bring archived segments back to the list."""
    from segpipe.lifecycle.operations import unarchive_segment

    _bulk(keys, unarchive_segment, actor, "segment unarchive", as_json)


def deactivate_command(
    keys: list[str] = KeysArgument, actor: str | None = ActorOption, as_json: bool = JsonOption
) -> None:
    """Make segments inactive now (scheduled refreshes and `refresh --all` skip them); `resume` undoes it.

    A segment in live use becomes active again at the next classify.
    """
    from segpipe.lifecycle.operations import deactivate_segment

    _bulk(keys, deactivate_segment, actor, "segment deactivate", as_json)


def _resume_rows(result: ops.ResumeResult) -> list[dict[str, Any]]:
    refreshed = {row["key"]: row for row in result_rows(result.refresh)} if result.refresh else {}
    rows = []
    for outcome in result.outcomes:
        row = outcome.to_json()
        if outcome.ok:
            row["status"] = "active"
            row["refresh"] = refreshed.get(outcome.key)
        rows.append(row)
    return rows


def resume_command(
    keys: list[str] = KeysArgument,
    as_of: str | None = typer.Option(None, "--as-of", help="Refresh as of this time (default: now)."),
    actor: str | None = ActorOption,
    as_json: bool = JsonOption,
) -> None:
    """Make segments active again and refresh them at once (exit 1 when a refresh fails)."""
    from segpipe.lifecycle import operations as ops
    from segpipe.lifecycle.bulk import bulk_exit_code

    with handle_errors(as_json):
        when = parse_time(as_of, "--as-of")
        engine = context.engine()
        label = editing_actor(engine, actor, "segment resume")
        result = ops.resume_segments(engine, keys, as_of=when, actor=label)
        rows = _resume_rows(result)
        failed = [row["key"] for row in rows if row.get("refresh") and row["refresh"]["status"] != "succeeded"]
        if failed and bulk_exit_code(result.outcomes) == 0:
            if not as_json:
                _render_resume(rows)
            fail(f"refresh failed for {', '.join(failed)}", 1, as_json, {"results": rows})
        if bulk_exit_code(result.outcomes) == 0:
            emit(rows, as_json, _render_resume)
        else:
            report(result.outcomes, as_json, rows)


def _render_resume(rows: list[dict[str, Any]]) -> None:
    _render_outcomes(rows)
    for row in rows:
        refresh = row.get("refresh")
        if refresh:
            counts = (
                f"{refresh['member_count'] or 0:,} members (+{refresh['added'] or 0:,} −{refresh['removed'] or 0:,})"
            )
            console.print(f"  refreshed {escape(row['key'])}: {refresh['status']}, {counts}", highlight=False)


def one_of(positional: str | None, option: str | None, what: str, required: bool = False) -> str | None:
    """A name that may be given as an argument or as `--name` (not two different ones)."""
    if positional is not None and option is not None and positional != option:
        raise InvalidInput(f"given twice: {positional!r} as an argument and {option!r} as --name", where=what)
    value = positional if positional is not None else option
    if value is None and required:
        raise InvalidInput("missing: give it as an argument or as --name", where=what)
    return value


def clone_command(
    key: str = typer.Argument(..., metavar="KEY", help="The segment to copy."),
    new_key: str | None = typer.Argument(
        None, metavar="NEW_KEY", help='Key of the new segment (default: "<key>-copy").'
    ),
    new_name: str | None = typer.Argument(None, metavar="NEW_NAME", help="Name of the new segment (or --name)."),
    name: str | None = typer.Option(None, "--name", help='Name of the new segment (default: "<name> (copy)").'),
    actor: str | None = ActorOption,
    as_json: bool = JsonOption,
) -> None:
    """A new segment with the same rules and a fresh history (active, not refreshed yet)."""
    from segpipe.lifecycle import operations as ops
    from segpipe.lifecycle.catalog import summary
    from segpipe.lifecycle.usage import load_usage

    with handle_errors(as_json):
        name = one_of(new_name, name, "NEW_NAME")
        engine = context.engine()
        label = editing_actor(engine, actor, "segment clone")
        with engine.begin() as conn:
            new_key = ops.clone_segment(conn, key, new_key, name, label).key
        with engine.connect() as conn:
            index = load_usage(conn)
            data = {**summary(index.segments[new_key], index), "cloned_from": key}
        emit(
            data, as_json, lambda d: console.print(f"cloned {escape(key)} → {escape(d['key'])} ('{escape(d['name'])}')")
        )


def rename_command(
    key: str = typer.Argument(..., metavar="KEY", help="Segment key."),
    new_name: str | None = typer.Argument(
        None, metavar="NEW_NAME", help="The new display name (unique among segments), or --name."
    ),
    name: str | None = typer.Option(None, "--name", help="The new display name."),
    actor: str | None = ActorOption,
    as_json: bool = JsonOption,
) -> None:
    """Give a segment a new name (its key never changes); a name used by another segment is refused (exit 2)."""
    from segpipe.lifecycle import operations as ops

    with handle_errors(as_json):
        new_name = one_of(new_name, name, "NEW_NAME", required=True) or ""
        engine = context.engine()
        label = editing_actor(engine, actor, "segment rename")
        with engine.begin() as conn:
            outcome = ops.rename_segment(conn, key, new_name, label)
        emit({**outcome.to_json(), "name": new_name}, as_json, lambda row: _render_outcomes([row]))


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def _precheck(keys: list[str]) -> tuple[list[Outcome], list[str]]:
    """Refusals found before asking (unknown, referenced), and the keys that can be deleted, in deletion order."""
    from segpipe.lifecycle import operations as ops
    from segpipe.lifecycle.bulk import refusal
    from segpipe.store.segments import require_segment

    refused, references = [], {}
    with context.engine().connect() as conn:
        for key in dict.fromkeys(keys):
            try:
                references[key] = ops.segment_references(conn, require_segment(conn, key).id)
            except InvalidInput as exc:
                refused.append(refusal(key, exc))
    deletable, blocked = ops.deletion_order(references)
    return refused + [refusal(key, exc) for key, exc in blocked.items()], deletable


def _confirmed(deletable: list[str], yes: bool, as_json: bool) -> bool | None:
    """True to go on; False when declined; None when there is no one to ask (not a terminal, no --yes).

    With --json the question goes to stderr, so that stdout holds only the JSON.
    """
    if yes or not deletable:
        return True
    if not stdin_is_terminal():
        return None
    listed = ", ".join(deletable)
    return typer.confirm(
        f"Delete {len(deletable)} segment(s) ({listed}) with their members and history?", default=False, err=as_json
    )


def delete_command(
    keys: list[str] = KeysArgument,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    actor: str | None = ActorOption,
    as_json: bool = JsonOption,
) -> None:
    """Delete unreferenced segments with their memberships and history (referenced ones: exit 3)."""
    from segpipe.lifecycle import operations as ops
    from segpipe.lifecycle.bulk import Outcome, run_per_key

    with handle_errors(as_json):
        label = editing_actor(context.engine(), actor, "segment delete")
        refused, deletable = _precheck(keys)
        answer = _confirmed(deletable, yes, as_json)
        if answer is None:
            message = "deleting segment '{}' needs confirmation: pass --yes (stdin is not a terminal)"
            pending = [Outcome(key, "not confirmed", message.format(key), 2) for key in deletable]
        elif not answer:
            declined = "segment '{}' not deleted: not confirmed"
            pending = [Outcome(key, "cancelled", declined.format(key), 3, "confirmation") for key in deletable]
        else:
            pending = run_per_key(context.engine(), deletable, partial(ops.delete_segment, actor=label))
        order = {key: i for i, key in enumerate(dict.fromkeys(keys))}
        report(sorted(refused + pending, key=lambda o: order[o.key]), as_json)


def schedule_command(
    key: str = typer.Argument(..., metavar="KEY", help="Segment key."),
    activate_at: str | None = typer.Option(None, "--activate-at", help="Make the segment active at this time."),
    deactivate_at: str | None = typer.Option(None, "--deactivate-at", help="Make the segment inactive at this time."),
    clear: bool = typer.Option(False, "--clear", help="Remove the scheduled activation and deactivation."),
    actor: str | None = ActorOption,
    as_json: bool = JsonOption,
) -> None:
    """Schedule a future activation or deactivation (carried out by classify and the scheduled flows)."""
    from segpipe.lifecycle.schedule import set_schedule
    from segpipe.lifecycle.usage import load_usage

    with handle_errors(as_json):
        start, stop = parse_time(activate_at, "--activate-at"), parse_time(deactivate_at, "--deactivate-at")
        engine = context.engine()
        label = editing_actor(engine, actor, "segment schedule")
        with engine.begin() as conn:
            schedule = set_schedule(conn, key, activate_at=start, deactivate_at=stop, clear=clear, actor=label)
        with engine.connect() as conn:
            live_reason = load_usage(conn).live_reasons.get(key)
        data = schedule.to_json()
        if schedule.deactivate_at is not None and live_reason:
            data["note"] = f"in live use now ({live_reason}): classify makes a segment in live use active again"
        emit(data, as_json, _render_schedule)


def _render_schedule(data: dict[str, Any]) -> None:
    parts = [
        f"{name} at {data[f'{name}_at']:%Y-%m-%d %H:%M} UTC"
        for name in ("activate", "deactivate")
        if data[f"{name}_at"]
    ]
    console.print(f"{escape(data['key'])}: " + ("; ".join(parts) if parts else "nothing scheduled"), highlight=False)
    if data.get("note"):
        console.print(f"[yellow]note:[/yellow] {escape(data['note'])}", highlight=False)
