"""Documents → ApplyPlan: what `apply` would do to each object, and every refusal, before anything is written.

The checks run in a fixed order and each document keeps its first fault: document validity, duplicate keys,
rule validity and limits, references (segments, campaigns, journeys), reference cycles, segment names, then the
comparison with what is stored (created / updated / unchanged) and the refresh-in-progress gate.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from segpipe.apply.checks import check_cycles, check_names, check_references
from segpipe.apply.diff import definition_diff, spec_diff
from segpipe.apply.documents import CONSUMER_KINDS, Candidate, SegmentDoc, parse_document
from segpipe.apply.files import RawDocument
from segpipe.apply.prune import DOC_KINDS, Removal, plan_removals
from segpipe.apply.state import StoredState, load_state
from segpipe.db.engine import try_xact_lock
from segpipe.errors import InvalidInput, RefreshInProgress
from segpipe.lifecycle.history import definition_of, row_definition
from segpipe.rules import parse_rules, rules_to_json, segment_refs
from segpipe.rules.parse import rule_faults
from segpipe.store.objects import ConsumerRow
from segpipe.store.segments import SegmentRow

CREATED, UPDATED, UNCHANGED, REFUSED, REMOVED = "created", "updated", "unchanged", "refused", "removed"
PRUNE_SOURCE = "(not in the applied files)"


@dataclass
class PlannedObject:
    """One document and what apply does with it; `changes` names the fields an update changes."""

    kind: str | None
    key: str | None
    source: str
    action: str
    reason: str | None = None
    changes: list[str] = field(default_factory=list)
    exit_code: int = 0
    label: str = ""
    faults: list[str] = field(default_factory=list)
    """Every fault of a refused document (`reason` is the first)."""
    diff: str | None = None
    """An update's unified diff of the definition's YAML text (before → after)."""
    members: dict[str, Any] | None = None
    """A dry run's member count of a created or changed segment: `{as_of, count, stored, change}`."""
    gate: str | None = None
    """The gate code of a refusal with exit code 3."""


@dataclass
class SegmentWrite:
    key: str
    values: dict[str, Any]
    """name, description, rules (the user's rules JSON, as written), keep_active and max_drop (YAML `guard`)."""
    refs: frozenset[str]
    created: bool
    rules_changed: bool
    definition_changed: bool
    renamed: bool
    previous: dict[str, Any] | None = None
    """The stored definition before this write (`history.definition_of`), None for a creation."""


@dataclass
class ConsumerWrite:
    kind: str
    key: str
    values: dict[str, Any]
    """name, status, channel and spec (the normalized document)."""
    segments: list[tuple[str, str]]
    links: list[tuple[str, str]]


@dataclass
class ApplyPlan:
    objects: list[PlannedObject]
    segments: list[SegmentWrite] = field(default_factory=list)
    consumers: list[ConsumerWrite] = field(default_factory=list)
    activated: list[str] = field(default_factory=list)
    """Segments that live use made active when the plan was written."""
    removals: list[Removal] = field(default_factory=list)
    """What `--prune` removes (consumers first, then segments in a removable order)."""

    @property
    def refused(self) -> list[PlannedObject]:
        return [obj for obj in self.objects if obj.action == REFUSED]

    @property
    def changed(self) -> bool:
        return bool(self.segments or self.consumers or self.removals)

    def count(self, action: str) -> int:
        return sum(obj.action == action for obj in self.objects)


def build_plan(conn: Connection, raws: Sequence[RawDocument], prune: bool = False) -> ApplyPlan:
    """The plan for these documents against the database as `conn` sees it. Writes nothing.

    It takes (until the caller's transaction ends) the refresh lock of each segment whose rules change meaning,
    and of each segment `prune` removes.
    """
    candidates = [parse_document(raw) for raw in raws]
    _refuse_duplicates(candidates)
    _parse_segment_rules(candidates)
    state = load_state(conn, candidates)
    check_references(candidates, state)
    check_cycles(candidates, state)
    check_names(candidates, state)
    plan = ApplyPlan(objects=[])
    for candidate in candidates:
        plan.objects.append(_decide(conn, candidate, state, plan))
    if prune:
        _plan_removals(conn, candidates, plan)
    if plan.refused:
        plan.segments, plan.consumers, plan.removals = [], [], []
    return plan


def _plan_removals(conn: Connection, candidates: list[Candidate], plan: ApplyPlan) -> None:
    for removal in plan_removals(conn, candidates):
        obj = PlannedObject(DOC_KINDS[removal.kind], removal.key, PRUNE_SOURCE, REMOVED)
        obj.label = f"{obj.kind} {obj.key}"
        refusal, gate = removal.refusal, removal.gate
        if refusal is None and removal.kind == "segment" and not try_xact_lock(conn, "refresh", removal.key):
            refusal, gate = RefreshInProgress(removal.key).message, RefreshInProgress(removal.key).gate
        if refusal is not None:
            obj.action, obj.reason, obj.exit_code, obj.gate, obj.faults = REFUSED, refusal, 3, gate, [refusal]
        else:
            plan.removals.append(removal)
        plan.objects.append(obj)


def _refuse_duplicates(candidates: list[Candidate]) -> None:
    first: dict[tuple[str, str], Candidate] = {}
    for candidate in candidates:
        if candidate.doc is None:
            continue
        ident = (candidate.doc.kind, candidate.doc.key)
        if ident in first:
            candidate.refuse(f"duplicate {ident[0]} key '{ident[1]}' (first in {first[ident].source})")
        else:
            first[ident] = candidate


def _parse_segment_rules(candidates: list[Candidate]) -> None:
    for candidate in candidates:
        if isinstance(candidate.doc, SegmentDoc) and candidate.fault is None:
            try:
                candidate.rules = parse_rules(candidate.doc.rules, "rules")
            except InvalidInput:
                for fault in rule_faults(candidate.doc.rules, "rules"):
                    candidate.refuse(fault)
                continue
            candidate.refs = frozenset(segment_refs(candidate.rules))


def _decide(conn: Connection, candidate: Candidate, state: StoredState, plan: ApplyPlan) -> PlannedObject:
    obj = PlannedObject(candidate.kind, candidate.key, candidate.source, REFUSED, label=candidate.label)
    if candidate.fault is None and isinstance(candidate.doc, SegmentDoc):
        _decide_segment(conn, candidate, state.segments.get(candidate.doc.key), obj, plan)
    elif candidate.fault is None and candidate.doc is not None:
        kind = CONSUMER_KINDS[candidate.doc.kind]
        _decide_consumer(candidate, kind, state.consumers.get((kind, candidate.doc.key)), obj, plan)
    if candidate.fault is not None:
        obj.action, obj.reason, obj.exit_code = REFUSED, candidate.fault, candidate.exit_code
        obj.faults = candidate.faults
    return obj


def _decide_segment(
    conn: Connection, candidate: Candidate, stored: SegmentRow | None, obj: PlannedObject, plan: ApplyPlan
) -> None:
    doc = candidate.doc
    assert isinstance(doc, SegmentDoc)
    max_drop = doc.guard.max_drop if doc.guard is not None else None
    values = {"name": doc.name, "description": doc.description, "rules": doc.rules}
    values |= {"keep_active": doc.keep_active, "max_drop": max_drop}
    if stored is None:
        obj.action = CREATED
        plan.segments.append(SegmentWrite(doc.key, values, candidate.refs, True, True, True, False))
        return
    before = {
        "name": stored.name,
        "description": stored.description,
        "rules": stored.rules,
        "keep_active": stored.keep_active,
        "max_drop": stored.max_drop,
    }
    obj.changes = [name for name in values if canonical(values[name]) != canonical(before[name])]
    if not obj.changes:
        obj.action = UNCHANGED
        return
    definition_changed = "rules" in obj.changes and _meaning(stored.rules) != canonical(rules_to_json(candidate.rules))
    # Holding the segment's refresh lock until commit (instead of only testing it) keeps a refresh from starting
    # between this check and the write; a refresh that starts meanwhile waits, then reads the new rules.
    if definition_changed and not try_xact_lock(conn, "refresh", doc.key):
        candidate.refuse(RefreshInProgress(doc.key).message, exit_code=3)
        obj.gate = RefreshInProgress(doc.key).gate
        return
    obj.action = UPDATED
    obj.diff = definition_diff(row_definition(stored), definition_of(values), doc.key, "stored", "new")
    write = SegmentWrite(
        doc.key,
        values,
        candidate.refs,
        False,
        "rules" in obj.changes,
        definition_changed,
        "name" in obj.changes,
        previous=row_definition(stored),
    )
    plan.segments.append(write)


def _meaning(rules: Any) -> str | None:
    """The canonical form of stored rules, or None when they no longer parse (then any edit is a change)."""
    try:
        return canonical(rules_to_json(parse_rules(rules, "rules")))
    except InvalidInput:
        return None


def _decide_consumer(
    candidate: Candidate, kind: str, stored: ConsumerRow | None, obj: PlannedObject, plan: ApplyPlan
) -> None:
    doc = candidate.doc
    assert doc is not None and not isinstance(doc, SegmentDoc)
    spec = doc.model_dump(mode="json")
    values = {"name": doc.name, "status": getattr(doc, "status", None), "channel": getattr(doc, "channel", None)}
    write = ConsumerWrite(kind, doc.key, {**values, "spec": spec}, candidate.segment_roles, candidate.links)
    if stored is None:
        obj.action = CREATED
        plan.consumers.append(write)
        return
    obj.changes = [name for name in spec if canonical(spec[name]) != canonical(stored.spec.get(name))]
    obj.changes += [name for name in stored.spec if name not in spec]
    if not obj.changes and (set(write.segments) != stored.segments or set(write.links) != stored.links):
        obj.changes = ["references"]
    obj.action = UPDATED if obj.changes else UNCHANGED
    if obj.changes:
        obj.diff = spec_diff(stored.spec, spec, f"{doc.kind} {doc.key}") or None
        plan.consumers.append(write)


def canonical(value: Any) -> str:
    """A JSON text that tells `true` from `1` and ignores key order: how specs are compared.

    Numbers compare by value: Postgres jsonb gives `1e+16` back as `10000000000000000`.
    """
    return json.dumps(_numbers_by_value(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _numbers_by_value(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _numbers_by_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers_by_value(v) for v in value]
    return value
