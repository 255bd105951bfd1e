"""Lifecycle operations on one segment: archive, unarchive, resume, clone, rename, delete (+ its guards).

Each takes the caller's connection inside a transaction (the caller commits) and the apply lock first, so it
serializes with `apply`, `classify` and the other operations. `bulk.run_per_key` runs one per key.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from graphlib import TopologicalSorter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from segpipe.db import schema as t
from segpipe.db.engine import try_xact_lock, xact_lock
from segpipe.errors import GateRefused, InvalidInput, RefreshInProgress
from segpipe.lifecycle.bulk import Outcome, run_per_key
from segpipe.lifecycle.history import definition_of, record_definition, row_definition
from segpipe.lifecycle.status import effective_time, set_statuses
from segpipe.lifecycle.usage import KIND_NAMES, load_usage
from segpipe.refresh.engine import RefreshRunResult, refresh
from segpipe.rules.model import SEGMENT_KEY_RE
from segpipe.store.memberships import dependencies_of
from segpipe.store.segments import (
    SegmentRow,
    get_segment,
    insert_segment,
    log_event,
    replace_segment_dependencies,
    require_segment,
    segment_keys_by_name,
)

_s = t.segments


def archive_segment(conn: Connection, key: str, actor: str | None = None) -> Outcome:
    """Hide a segment from the default list; it keeps its status, usage and refreshes."""
    return _set_archived(conn, key, True, actor)


def unarchive_segment(conn: Connection, key: str, actor: str | None = None) -> Outcome:
    return _set_archived(conn, key, False, actor)


def _set_archived(conn: Connection, key: str, archived: bool, actor: str | None) -> Outcome:
    xact_lock(conn, "apply")
    segment = require_segment(conn, key)
    done = "archived" if archived else "unarchived"
    if segment.archived == archived:
        return Outcome(key, "unchanged", "already archived" if archived else "not archived")
    conn.execute(sa.update(_s).where(_s.c.id == segment.id).values(archived=archived, updated_at=sa.func.now()))
    log_event(conn, segment.id, done, actor=actor)
    return Outcome(key, done)


def resume_segment(conn: Connection, key: str, actor: str | None = None) -> Outcome:
    """Make a segment active (recorded as `resumed`); the resume restarts its grace period, active or not."""
    xact_lock(conn, "apply")
    segment = require_segment(conn, key)
    at = effective_time(conn, segment.id)
    changed = set_statuses(conn, [(key, "active", "resumed" + (f" by {actor}" if actor else ""))], at)
    log_event(conn, segment.id, "resumed", at=at, actor=actor)
    return Outcome(key, "resumed") if changed else Outcome(key, "unchanged", "already active")


def deactivate_segment(conn: Connection, key: str, actor: str | None = None) -> Outcome:
    """Make a segment inactive now (recorded as `deactivated`): scheduled refreshes and `refresh --all` skip it.

    A segment in live use is deactivated too, with a note: the next classify (or an apply that uses it live)
    makes it active again, since live use always wins.
    """
    xact_lock(conn, "apply")
    segment = require_segment(conn, key)
    at = effective_time(conn, segment.id)
    if not set_statuses(conn, [(key, "inactive", "deactivated" + (f" by {actor}" if actor else ""))], at):
        return Outcome(key, "unchanged", "already inactive")
    log_event(conn, segment.id, "deactivated", at=at, actor=actor)
    live = load_usage(conn).live_reasons.get(key)
    note = f"in live use ({live}): classify makes it active again" if live else None
    return Outcome(key, "deactivated", note)


@dataclass(frozen=True)
class ResumeResult:
    outcomes: list[Outcome]
    refresh: RefreshRunResult | None = None
    """The refresh run of the resumed segments (None when no key could be resumed)."""


def resume_segments(
    engine: Engine, keys: Iterable[str], *, as_of: datetime | None = None, actor: str | None = None
) -> ResumeResult:
    """Resume each key (its own transaction), then refresh the resumed ones at once in one run."""
    outcomes = run_per_key(engine, keys, partial(resume_segment, actor=actor))
    resumed = [outcome.key for outcome in outcomes if outcome.ok]
    if not resumed:
        return ResumeResult(outcomes)
    return ResumeResult(outcomes, refresh(engine, resumed, as_of, trigger="resume"))


def check_name(name: str, where: str) -> str:
    """A segment name as apply accepts it: not blank, no surrounding whitespace (exit 2 otherwise)."""
    if not name.strip():
        raise InvalidInput("a segment name must not be empty", where=where)
    if name != name.strip():
        raise InvalidInput(f"{name!r} must not start or end with whitespace", where=where)
    return name


def _check_name_free(conn: Connection, name: str, key: str | None, where: str) -> None:
    owner = segment_keys_by_name(conn, [name]).get(name)
    if owner is not None and owner != key:
        raise InvalidInput(f"name '{name}' is already used by segment '{owner}'", where=where)


def rename_segment(conn: Connection, key: str, new_name: str, actor: str | None = None) -> Outcome:
    """Give a segment a new display name, unique among segments (a clash is exit 2)."""
    check_name(new_name, "NEW_NAME")
    xact_lock(conn, "apply")
    segment = require_segment(conn, key)
    if segment.name == new_name:
        return Outcome(key, "unchanged", f"already named '{new_name}'")
    _check_name_free(conn, new_name, key, "NEW_NAME")
    conn.execute(sa.update(_s).where(_s.c.id == segment.id).values(name=new_name, updated_at=sa.func.now()))
    log_event(conn, segment.id, "renamed", actor=actor, detail={"from": segment.name, "to": new_name})
    before = row_definition(segment)
    record_definition(conn, key, "renamed", {**before, "name": new_name}, before, actor)
    return Outcome(key, "renamed", f"'{segment.name}' → '{new_name}'")


def clone_segment(
    conn: Connection, key: str, new_key: str | None, name: str | None = None, actor: str | None = None
) -> SegmentRow:
    """A new active segment with the same rules and description, and a history of its own (no members yet).

    The default key is "<key>-copy" and the default name "<name> (copy)", numbered when taken ("<key>-copy-2",
    "<name> (copy 2)"); an explicit key or name must be free.
    """
    if new_key is not None and not SEGMENT_KEY_RE.fullmatch(new_key):
        raise InvalidInput(f"invalid segment key {new_key!r}: must match {SEGMENT_KEY_RE.pattern}", where="NEW_KEY")
    if name is not None:
        check_name(name, "--name")
    xact_lock(conn, "apply")
    source = require_segment(conn, key)
    if new_key is None:
        new_key = _free_copy_key(conn, key)
    elif get_segment(conn, new_key) is not None:
        raise InvalidInput(f"segment '{new_key}' already exists", where="NEW_KEY")
    if name is None:
        name = _free_copy_name(conn, source.name)
    else:
        _check_name_free(conn, name, None, "--name")
    values = {"key": new_key, "name": name, "description": source.description, "rules": source.rules}
    segment_id = insert_segment(conn, values, reason=f"cloned from {key}")
    record_definition(conn, new_key, "cloned", definition_of(values), None, actor)
    replace_segment_dependencies(conn, new_key, [dep.key for dep in dependencies_of(conn, source.id)])
    log_event(conn, segment_id, "cloned", actor=actor, detail={"from": key})
    return require_segment(conn, new_key)


def _free_copy_key(conn: Connection, key: str) -> str:
    for n in itertools.count(1):
        suffix = "-copy" if n == 1 else f"-copy-{n}"
        candidate = key[: 63 - len(suffix)] + suffix
        if get_segment(conn, candidate) is None:
            return candidate
    raise AssertionError("unreachable")


def _free_copy_name(conn: Connection, name: str) -> str:
    first = 1
    while True:
        candidates = [f"{name} (copy{'' if n == 1 else f' {n}'})" for n in range(first, first + 50)]
        taken = segment_keys_by_name(conn, candidates)
        free = [candidate for candidate in candidates if candidate not in taken]
        if free:
            return free[0]
        first += 50


def segment_references(conn: Connection, segment_id: int) -> list[dict[str, Any]]:
    """Everything that references a segment: consumers (kind, key, role) and segments whose rules name it."""
    cs, d = t.consumer_segments, t.segment_dependencies
    consumers = sa.select(cs.c.consumer_kind, cs.c.consumer_key, cs.c.role).where(cs.c.segment_id == segment_id)
    found: dict[tuple[str, str], list[str]] = {}
    for kind, key, role in conn.execute(consumers.order_by(cs.c.consumer_kind, cs.c.consumer_key, cs.c.role)):
        found.setdefault((kind, key), []).append(role)
    refs = [{"kind": kind, "key": key, "role": ",".join(roles)} for (kind, key), roles in found.items()]
    segments = sa.select(_s.c.key).join(d, d.c.segment_id == _s.c.id).where(d.c.depends_on_id == segment_id)
    refs += [
        {"kind": "segment", "key": key, "role": "rules"} for key in conn.execute(segments.order_by(_s.c.key)).scalars()
    ]
    return refs


def referenced(key: str, refs: list[dict[str, Any]]) -> GateRefused:
    """The refusal (gate `referenced`, exit 3) of deleting a segment that `refs` still reference."""
    listed = ", ".join(f"{KIND_NAMES.get(r['kind'], r['kind'])} {r['key']} ({r['role']})" for r in refs)
    message = f"segment '{key}' is still referenced by {listed}; remove these references first"
    return GateRefused("referenced", message, details=refs)


def check_deletable(conn: Connection, key: str) -> SegmentRow:
    """The segment, when nothing references it (else GateRefused `referenced`, exit 3, listing each reference)."""
    segment = require_segment(conn, key)
    refs = segment_references(conn, segment.id)
    if refs:
        raise referenced(key, refs)
    return segment


def deletion_order(references: dict[str, list[dict[str, Any]]]) -> tuple[list[str], dict[str, GateRefused]]:
    """Which of the segments asked for can be deleted together, referencing ones first, and the refusals.

    `references` maps each key asked for to what references it. A reference by another segment of the same
    command does not count when that segment goes too, so `delete base derived` works in one command.
    """
    going = dict(references)
    refused: dict[str, GateRefused] = {}
    while blocked := [key for key, refs in going.items() if any(not _goes_too(r, going) for r in refs)]:
        for key in blocked:
            refused[key] = referenced(key, going.pop(key))
    sorter = TopologicalSorter({key: {r["key"] for r in refs} for key, refs in going.items()})
    return list(sorter.static_order()), refused


def _goes_too(ref: dict[str, Any], going: dict[str, Any]) -> bool:
    return ref["kind"] == "segment" and ref["key"] in going


def delete_segment(conn: Connection, key: str, actor: str | None = None) -> Outcome:
    """Remove an unreferenced segment with its memberships and history; records who and when.

    Refused while referenced or while its refresh runs (exit 3). Holding the segment's refresh lock until
    commit keeps a refresh from starting meanwhile.
    """
    xact_lock(conn, "apply")
    segment = check_deletable(conn, key)
    if not try_xact_lock(conn, "refresh", key):
        raise RefreshInProgress(key)
    remove_segment(conn, segment, actor)
    return Outcome(key, "deleted", f"deleted '{segment.name}'")


def remove_segment(conn: Connection, segment: SegmentRow, actor: str | None, reason: str | None = None) -> None:
    """Delete a segment with its memberships (its logs go with it), leaving a tombstone and a history row.

    The caller holds the apply lock and the segment's refresh lock and has checked that nothing references it.
    """
    definition = row_definition(segment)
    record_definition(conn, segment.key, "deleted", definition, definition, actor)
    conn.execute(sa.delete(t.memberships).where(t.memberships.c.segment_id == segment.id))
    conn.execute(sa.delete(_s).where(_s.c.id == segment.id))
    tombstone = {"key": segment.key, "name": segment.name, "actor": actor, "reason": reason}
    conn.execute(sa.insert(t.segment_deletions).values(**tombstone))
