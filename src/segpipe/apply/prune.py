"""`apply --prune`: remove the stored objects of each kind in the run that the applied files no longer hold.

Only kinds that occur in the applied documents are pruned (a folder of campaigns never removes segments). The
removals are planned with the rest and shown first (`would remove`); they are refused (exit 3, nothing of the run
applied) when, after the run, something would still need the object:
- a segment still referenced by a segment or a consumer that stays (gate `referenced`), which covers a segment
  in live use: a live campaign or journey that stays references it;
- a campaign or journey in live use now (scheduled, sending, live) or a test list or message attached to one
  (gate `live_use`): set it to a finished status first;
- a campaign or journey that a test list or message that stays is attached to (gate `referenced`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Connection

from segpipe.apply.documents import CONSUMER_KINDS, Candidate
from segpipe.lifecycle.usage import KIND_NAMES, live_consumers
from segpipe.store.objects import ConsumerRow, list_consumers
from segpipe.store.segments import dependency_keys

SEGMENT = "segment"
DOC_KINDS = {SEGMENT: "Segment", **{kind: doc for doc, kind in CONSUMER_KINDS.items()}}


@dataclass(frozen=True)
class Removal:
    kind: str
    """`segment` or a consumer kind (`campaign`, `journey`, `test_list`, `message`, `report`)."""
    key: str
    refusal: str | None = None
    gate: str | None = None


def plan_removals(conn: Connection, candidates: list[Candidate]) -> list[Removal]:
    """The objects `--prune` removes (or refuses to), in the order they can go: consumers, then segments.

    A refused object stays, so what it references stays needed too: the check repeats until nothing new is
    refused, and every refusal is reported.
    """
    kinds = {_kind(c.kind) for c in candidates if c.kind in DOC_KINDS.values()}
    named = {(_kind(c.kind), c.key) for c in candidates if c.kind in DOC_KINDS.values() and c.key}
    graph = dependency_keys(conn)
    stored = list_consumers(conn)
    live = {(c.kind, c.key) for c in live_consumers(stored)}
    gone = {(c.kind, c.key) for c in stored if c.kind in kinds and (c.kind, c.key) not in named}
    gone |= {(SEGMENT, key) for key in graph if SEGMENT in kinds and (SEGMENT, key) not in named}
    refused: set[tuple[str, str]] = set()
    while True:
        going = gone - refused
        after_consumers = _consumers_after(stored, candidates, going)
        after_graph = {key: refs for key, refs in graph.items() if (SEGMENT, key) not in going}
        after_graph.update({c.key: set(c.refs) for c in candidates if c.kind == "Segment" and c.key})
        removals = [
            _consumer_removal(kind, key, live, after_consumers)
            if kind != SEGMENT
            else _segment_removal(key, after_graph, after_consumers)
            for kind, key in gone
        ]
        new = {(r.kind, r.key) for r in removals if r.refusal is not None} - refused
        if not new:
            return _in_order(removals, graph)
        refused |= new


def _in_order(removals: list[Removal], graph: dict[str, set[str]]) -> list[Removal]:
    """Consumers (by kind, key), then segments, each before the segments its rules reference."""
    consumers = sorted((r for r in removals if r.kind != SEGMENT), key=lambda r: (r.kind, r.key))
    segments = {r.key: r for r in removals if r.kind == SEGMENT}
    return consumers + [segments[key] for key in _referencing_first(set(segments), graph)]


def _kind(doc_kind: str | None) -> str:
    return SEGMENT if doc_kind == "Segment" else CONSUMER_KINDS[doc_kind or ""]


def _consumers_after(
    stored: list[ConsumerRow], candidates: list[Candidate], gone: set[tuple[str, str]]
) -> list[ConsumerRow]:
    """The consumers as the run leaves them: stored ones not removed nor rewritten, and the run's own."""
    ours = {(CONSUMER_KINDS[c.kind], c.key): c for c in candidates if c.kind in CONSUMER_KINDS and c.key and c.doc}
    after = [c for c in stored if (c.kind, c.key) not in gone and (c.kind, c.key) not in ours]
    for (kind, key), candidate in ours.items():
        spec = candidate.doc.model_dump(mode="json") if candidate.doc is not None else {}
        after.append(
            ConsumerRow(kind, key, None, spec.get("status"), spec.get("channel"), spec,
                        frozenset(candidate.segment_roles), frozenset(candidate.links))
        )  # fmt: skip
    return after


def _consumer_removal(kind: str, key: str, live: set[tuple[str, str]], after: list[ConsumerRow]) -> Removal:
    name = f"{KIND_NAMES[kind]} '{key}'"
    if (kind, key) in live:
        reason = f"{name} is in live use; give it a finished status (or detach it) before pruning it"
        return Removal(kind, key, reason, "live_use")
    holders = [f"{KIND_NAMES[c.kind]} {c.key}" for c in after if (kind, key) in c.links]
    if kind == "test_list":
        holders += [f"campaign {c.key}" for c in after if c.kind == "campaign" and key in _test_lists(c)]
    if holders:
        return Removal(kind, key, f"{name} is still attached to by {', '.join(sorted(holders))}", "referenced")
    return Removal(kind, key)


def _test_lists(consumer: ConsumerRow) -> set[str]:
    spec = consumer.spec
    return {k for k in [spec.get("test_list"), *(spec.get("test_lists") or [])] if k}


def _segment_removal(key: str, graph: dict[str, set[str]], after: list[ConsumerRow]) -> Removal:
    users = sorted(f"segment {other} (rules)" for other, refs in graph.items() if key in refs and other != key)
    users += sorted(f"{KIND_NAMES[c.kind]} {c.key} ({role})" for c in after for ref, role in c.segments if ref == key)
    if users:
        return Removal(SEGMENT, key, f"segment '{key}' is still referenced by {', '.join(users)}", "referenced")
    return Removal(SEGMENT, key)


def _referencing_first(keys: set[str], graph: dict[str, set[str]]) -> list[str]:
    """Removable order: a segment before the segments its rules reference (both may go in one run)."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(key: str) -> None:
        if key in seen:
            return
        seen.add(key)
        for other in sorted(keys):
            if key in graph.get(other, ()):
                visit(other)
        order.append(key)

    for key in sorted(keys):
        visit(key)
    return order
