"""Shared event scans in a refresh run (issue 4, item 6): which features to compute once for several segments.

Each segment's query scans `events` once per (event name, window) it reads. A run computes some features once
instead, in grouped scans (`segpipe.rules.features.shared_scan`) whose results are tables of the run that the
segments join (`segpipe.refresh.feature_tables`). This module is the planner: pure functions over rule trees.

- An event name read by at least `MIN_CONSUMERS` segments of the run gets a scan of its own, over the widest
  window its features need: it costs about one of the scans it replaces, plus writing a narrow table.
- Features without a window (all events up to as_of) of names read by a single segment share one scan across
  those names, when there are two or more: with events stored in time order, each such scan visits about every
  page of `events`, so k of them cost k passes where one scan of all k names costs one.
- Everything else stays in its segment's query, where the scan is no more expensive.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from segpipe.rules.check import walk
from segpipe.rules.features import EventFeature
from segpipe.rules.model import Event, RuleNode

MIN_CONSUMERS = 2
"""Segments of a run that must read an event name before its features are computed in a shared scan."""
MAX_COLUMNS = 32
"""Features per shared scan: more are split into several scans (bounded width, grouping state and sort rows)."""

Group = tuple[EventFeature, ...]


def segment_features(node: RuleNode) -> set[EventFeature]:
    """The event features of a segment's own leaves (a refresh reads referenced segments' stored members)."""
    return {EventFeature.of(current) for current, _, _ in walk(node) if isinstance(current, Event)}


def plan_groups(
    rule_sets: Iterable[RuleNode], min_consumers: int = MIN_CONSUMERS, max_columns: int = MAX_COLUMNS
) -> list[Group]:
    """The shared scans for a run whose computed segments have these rule trees: groups of features, widest
    windows first (so each group's scan window is as tight as it can be)."""
    readers: dict[str, int] = {}
    features: dict[str, set[EventFeature]] = {}
    for node in rule_sets:
        mine = segment_features(node)
        for name in {feature.event for feature in mine}:
            readers[name] = readers.get(name, 0) + 1
        for feature in mine:
            features.setdefault(feature.event, set()).add(feature)
    groups: list[Group] = []
    for name in sorted(features):
        if readers[name] >= min_consumers:
            groups.extend(_chunks(features[name], max_columns))
    unbounded = {f for name in features if readers[name] < min_consumers for f in features[name] if f.within is None}
    if len({feature.event for feature in unbounded}) >= 2:
        groups.extend(_chunks(unbounded, max_columns))
    return groups


def _chunks(features: set[EventFeature], size: int) -> list[Group]:
    ordered = sorted(features, key=lambda f: (-_reach(f), f.event, f.key))
    return [tuple(ordered[i : i + size]) for i in range(0, len(ordered), size)]


def _reach(feature: EventFeature) -> float:
    """How far back the feature's window reaches (no window: all the way)."""
    if feature.within is None:
        return float("inf")
    return feature.within.delta() / timedelta(microseconds=1)
