"""Which segments are in live use (contract §5): one definition for refresh's count gate, apply and classify.

A use is live when it comes from a campaign that is scheduled or sending, a live journey, a test list of a live
campaign, or a message used by a live campaign or journey; a segment referenced by a segment used live is used
live too. Reports, drafts, sent campaigns and paused or stopped journeys are passive. Pure functions over the
stored consumers and the reference graph, so that every layer above the store can ask.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from segpipe.store.objects import ConsumerRow

LIVE_STATUSES: dict[str, frozenset[str]] = {
    "campaign": frozenset({"scheduled", "sending"}),
    "journey": frozenset({"live"}),
}
ATTACHABLE = frozenset({"test_list", "message"})
KIND_NAMES = {
    "campaign": "campaign",
    "journey": "journey",
    "test_list": "test list",
    "message": "message",
    "report": "report",
    "segment": "segment",
}


def live_consumers(consumers: Iterable[ConsumerRow]) -> list[ConsumerRow]:
    """The consumers whose segment uses are live: live campaigns and journeys, and the test lists and messages
    attached to one (linked from either side: a test list's `campaign`, or a campaign's `test_lists`)."""
    rows = list(consumers)
    live_targets = {(c.kind, c.key) for c in rows if c.status in LIVE_STATUSES.get(c.kind, ())}
    attached = {("test_list", k) for c in rows if (c.kind, c.key) in live_targets for k in campaign_test_lists(c.spec)}
    return [
        c
        for c in rows
        if (c.kind, c.key) in live_targets
        or (c.kind in ATTACHABLE and (c.links & live_targets or (c.kind, c.key) in attached))
    ]


def campaign_test_lists(spec: dict[str, Any]) -> list[str]:
    """The test lists a campaign's document attaches (`test_list`, `test_lists`)."""
    return ([spec["test_list"]] if spec.get("test_list") else []) + list(spec.get("test_lists") or [])


def live_segment_reasons(
    consumers: Iterable[ConsumerRow],
    graph: dict[str, set[str]],
    prefer: Collection[tuple[str, str]] = (),
    source: str = "apply",
) -> dict[str, str]:
    """Every segment in live use → why (`live use by campaign black-friday (apply)`).

    The reason names a consumer of `prefer` (e.g. this apply run's objects) when one reaches the segment.
    """
    live = sorted(live_consumers(consumers), key=lambda c: ((c.kind, c.key) not in prefer, c.kind, c.key))
    reasons: dict[str, str] = {}
    for consumer in live:
        reason = f"live use by {KIND_NAMES[consumer.kind]} {consumer.key}" + (f" ({source})" if source else "")
        stack = [key for key, _role in consumer.segments]
        while stack:
            key = stack.pop()
            if key not in reasons:
                reasons[key] = reason
                stack.extend(graph.get(key, ()))
    return reasons
