"""The checks of a whole run: references, reference cycles and segment names, across stored objects + this run.

Each check refuses the documents at fault (a document keeps its first fault) and never reads the database.
"""

from __future__ import annotations

from segpipe.apply.documents import (
    CONSUMER_KINDS,
    Candidate,
    SegmentDoc,
    attached_test_lists,
    link_targets,
    segment_roles,
)
from segpipe.apply.state import StoredState
from segpipe.errors import InvalidInput
from segpipe.rules import check_references as check_rule_references
from segpipe.rules import find_cycle


def check_references(candidates: list[Candidate], state: StoredState) -> None:
    """Refuse references to segments, campaigns or journeys that are neither stored nor in this run."""
    segments = set(state.graph) | {c.key for c in candidates if c.kind == "Segment" and c.key}
    consumers = set(state.consumers) | {
        (CONSUMER_KINDS[c.kind], c.key) for c in candidates if c.kind in CONSUMER_KINDS and c.key is not None
    }
    for candidate in candidates:
        if candidate.fault is not None or candidate.doc is None:
            continue
        if isinstance(candidate.doc, SegmentDoc):
            try:
                check_rule_references(candidate.rules, segments, "rules")
            except InvalidInput as exc:
                candidate.refuse(str(exc))
            continue
        for path, key, role in segment_roles(candidate.doc):
            if key not in segments:
                candidate.refuse(f"{path}: unknown segment '{key}'")
            candidate.segment_roles.append((key, role))
        for path, key, kinds in link_targets(candidate.doc):
            found = [(kind, key) for kind in kinds if (kind, key) in consumers]
            if not found:
                candidate.refuse(f"{path}: unknown {' or '.join(kinds)} '{key}'")
            candidate.links.extend(found)
        for path, key in attached_test_lists(candidate.doc):
            if ("test_list", key) not in consumers:
                candidate.refuse(f"{path}: unknown test list '{key}'")


def check_cycles(candidates: list[Candidate], state: StoredState) -> None:
    """Refuse every segment of this run that lies on a reference cycle (`a -> b -> a`, self-reference `a -> a`)."""
    graph = {key: set(refs) for key, refs in state.graph.items()}
    ours = [c for c in candidates if c.rules is not None and c.key is not None]
    for candidate in ours:
        graph[candidate.key] = set(candidate.refs)  # type: ignore[index]
    order = [c.key for c in ours]
    while cycle := find_cycle(_reachable(graph, order)):
        on_cycle = [key for key in order if key in cycle]
        if not on_cycle:
            return
        message = "reference cycle: " + " -> ".join(_rotate(cycle, on_cycle[0]))
        for candidate in ours:
            if candidate.key in on_cycle:
                candidate.refuse(message)
                graph[candidate.key] = set()


def _reachable(graph: dict[str, set[str]], roots: list[str | None]) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    stack = [key for key in roots if key is not None]
    while stack:
        key = stack.pop()
        if key not in seen:
            seen[key] = graph.get(key, set())
            stack.extend(seen[key])
    return seen


def _rotate(cycle: list[str], start: str) -> list[str]:
    """`[b, a, b]` started at `a` → `[a, b, a]`."""
    ring = cycle[:-1]
    at = ring.index(start)
    ring = ring[at:] + ring[:at]
    return [*ring, ring[0]]


def check_names(candidates: list[Candidate], state: StoredState) -> None:
    """Refuse a segment name that another segment holds once this run is applied (so swaps in one run are fine)."""
    final: dict[str, str] = {}
    for candidate in candidates:
        if isinstance(candidate.doc, SegmentDoc):
            final.setdefault(candidate.doc.key, candidate.doc.name)
    first: dict[str, Candidate] = {}
    for candidate in candidates:
        doc = candidate.doc
        if not isinstance(doc, SegmentDoc):
            continue
        owner = state.names.get(doc.name)
        if owner is not None and owner != doc.key and final.get(owner, doc.name) == doc.name:
            candidate.refuse(f"name '{doc.name}' is already used by segment '{owner}'")
        other = first.setdefault(doc.name, candidate)
        if other.key != doc.key:
            candidate.refuse(f"name '{doc.name}' is also used by Segment {other.key} ({other.source})")
