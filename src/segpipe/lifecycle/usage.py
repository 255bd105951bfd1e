"""Who uses which segment, and which uses are live (contract §5).

A use is live when it comes from a campaign that is scheduled or sending, a live journey, a test list of a live
campaign, or a message used by a live campaign or journey; a segment referenced by a segment used live is used
live too. Reports, drafts, sent campaigns and paused or stopped journeys are passive. `apply` (activation on a
new live use) and `classify` share this one definition.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from segpipe.errors import InvalidInput, NotFound
from segpipe.live_use import (
    ATTACHABLE,
    KIND_NAMES,
    LIVE_STATUSES,
    campaign_test_lists,
    live_consumers,
    live_segment_reasons,
)
from segpipe.store.objects import ConsumerRow, list_consumers
from segpipe.store.segments import SegmentRow, dependency_keys, list_segments

__all__ = ["ATTACHABLE", "KIND_NAMES", "LIVE_STATUSES", "live_consumers", "live_segment_reasons"]

USE_KINDS = ("campaign", "journey", "test_list", "message", "report", "segment")
REFERENCES = "references"
"""The role of a segment whose rules reference another segment."""


@dataclass(frozen=True)
class Use:
    """One direct use of a segment: a consumer, or a segment whose rules reference it."""

    kind: str
    key: str
    role: str
    """include, exclude or uses for consumers (several joined by `,`); `references` for segments."""
    status: str | None
    """The consumer's status (draft, scheduled, live…; none for test lists, messages, reports) or the segment's."""
    live: bool
    """True when this use keeps the segment in live use."""

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "role": self.role, "status": self.status, "live": self.live}


@dataclass(frozen=True)
class UsageIndex:
    """Every segment, consumer and reference, read once: answers usage questions for any segment or consumer."""

    segments: dict[str, SegmentRow]
    consumers: dict[tuple[str, str], ConsumerRow]
    graph: dict[str, set[str]]
    """segment key → the keys its rules reference directly."""
    live_reasons: dict[str, str]
    """segment key → why it is in live use (only segments in live use)."""
    live_consumer_ids: frozenset[tuple[str, str]]

    def uses_of(self, key: str) -> list[Use]:
        """The direct uses of a segment: consumers first (by kind, key), then referencing segments."""
        uses = []
        for (kind, ckey), consumer in sorted(self.consumers.items()):
            roles = sorted(role for segment, role in consumer.segments if segment == key)
            if roles:
                live = (kind, ckey) in self.live_consumer_ids
                uses.append(Use(kind, ckey, ",".join(roles), consumer.status, live))
        for other in sorted(k for k, refs in self.graph.items() if key in refs):
            status = self.segments[other].status if other in self.segments else None
            uses.append(Use("segment", other, REFERENCES, status, other in self.live_reasons))
        return uses

    def dependencies(self, roots: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
        """The segments reached from `roots` ((segment key, role) pairs), transitively, nearest first."""
        found: dict[str, dict[str, Any]] = {}
        frontier: list[tuple[str, str, str | None]] = [(key, role, None) for key, role in sorted(roots)]
        depth = 0
        while frontier:
            following: list[tuple[str, str, str | None]] = []
            for key, role, via in frontier:
                if key in found:
                    if via is None and role not in found[key]["role"].split(","):
                        found[key]["role"] += f",{role}"
                    continue
                found[key] = self._dependency_json(key, role, via, depth)
                following += [(dep, REFERENCES, key) for dep in sorted(self.graph.get(key, ()))]
            frontier, depth = following, depth + 1
        return list(found.values())

    def _dependency_json(self, key: str, role: str, via: str | None, depth: int) -> dict[str, Any]:
        segment = self.segments.get(key)
        return {
            "kind": "segment",
            "key": key,
            "name": segment.name if segment else None,
            "status": segment.status if segment else None,
            "archived": segment.archived if segment else None,
            "role": role,
            "via": via,
            "depth": depth,
            "live": key in self.live_reasons,
        }


def load_usage(conn: Connection, source: str = "") -> UsageIndex:
    consumers = list_consumers(conn)
    graph = dependency_keys(conn)
    return UsageIndex(
        segments={s.key: s for s in list_segments(conn)},
        consumers={(c.kind, c.key): c for c in consumers},
        graph=graph,
        live_reasons=live_segment_reasons(consumers, graph, source=source),
        live_consumer_ids=frozenset((c.kind, c.key) for c in live_consumers(consumers)),
    )


_KIND_ALIASES = {"test-list": "test_list", "testlist": "test_list", "list": "test_list"}


def parse_target(text: str) -> tuple[str, str]:
    """`campaign:black-friday` → ("campaign", "black-friday"); kinds as in USE_KINDS (`test-list` works too)."""
    kind, sep, key = text.partition(":")
    kind = _KIND_ALIASES.get(kind.strip().lower(), kind.strip().lower())
    if not sep or not key or kind not in USE_KINDS:
        raise InvalidInput(f"expected KIND:KEY with KIND one of {', '.join(USE_KINDS)}, got {text!r}", where="--of")
    return kind, key


def consumer_usage(index: UsageIndex, kind: str, key: str) -> dict[str, Any]:
    """What a consumer (or a segment) uses: its segments, then theirs, transitively."""
    if kind == "segment":
        segment = index.segments.get(key)
        if segment is None:
            raise NotFound(f"unknown segment '{key}'")
        roots = [(dep, REFERENCES) for dep in index.graph.get(key, ())]
        live = key in index.live_reasons
        return {"kind": kind, "key": key, "status": segment.status, "live": live, "segments": index.dependencies(roots)}
    consumer = index.consumers.get((kind, key))
    if consumer is None:
        raise NotFound(f"unknown {KIND_NAMES[kind]} '{key}'")
    return {
        "kind": kind,
        "key": key,
        "status": consumer.status,
        "live": (kind, key) in index.live_consumer_ids,
        "links": [{"kind": k, "key": v} for k, v in sorted(consumer.links | _named_by_campaigns(index, consumer))],
        "segments": index.dependencies(consumer.segments),
    }


def _named_by_campaigns(index: UsageIndex, consumer: ConsumerRow) -> set[tuple[str, str]]:
    """The campaigns that attach this test list from their side (`test_list`, `test_lists`)."""
    if consumer.kind != "test_list":
        return set()
    campaigns = (c for c in index.consumers.values() if c.kind == "campaign")
    return {("campaign", c.key) for c in campaigns if consumer.key in campaign_test_lists(c.spec)}
