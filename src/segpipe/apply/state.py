"""What `apply` needs to know of the stored objects, read once per run under the apply lock."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Connection

from segpipe.apply.documents import CONSUMER_KINDS, Candidate, SegmentDoc, attached_test_lists, link_targets
from segpipe.store.objects import ConsumerRow, list_consumers
from segpipe.store.segments import SegmentRow, dependency_keys, segment_keys_by_name, segments_by_keys


@dataclass(frozen=True)
class StoredState:
    segments: dict[str, SegmentRow]
    """The stored segments this run names, by key."""
    graph: dict[str, set[str]]
    """Every stored segment key → the keys its rules reference."""
    names: dict[str, str]
    """The stored segments holding a name this run's segments use: name → key."""
    consumers: dict[tuple[str, str], ConsumerRow]
    """Stored consumers this run names or links to, by (kind, key)."""


def load_state(conn: Connection, candidates: list[Candidate]) -> StoredState:
    segment_keys = {c.key for c in candidates if c.kind == "Segment" and c.key}
    names = {c.doc.name for c in candidates if isinstance(c.doc, SegmentDoc)}
    consumer_keys = {c.key for c in candidates if c.kind in CONSUMER_KINDS and c.key}
    for candidate in candidates:
        if candidate.doc is not None and not isinstance(candidate.doc, SegmentDoc):
            consumer_keys.update(key for _, key, _ in link_targets(candidate.doc))
            consumer_keys.update(key for _, key in attached_test_lists(candidate.doc))
    consumers = list_consumers(conn, consumer_keys) if consumer_keys else []
    return StoredState(
        segments=segments_by_keys(conn, segment_keys) if segment_keys else {},
        graph=dependency_keys(conn),
        names=segment_keys_by_name(conn, names) if names else {},
        consumers={(row.kind, row.key): row for row in consumers},
    )
