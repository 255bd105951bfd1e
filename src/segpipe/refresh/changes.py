"""Which profiles can have changed membership in a segment since its last refresh, as set-based SQL.

Three kinds, all read in the refresh's own snapshot (sql/0016_incremental_refresh.sql records them):

- **changed rows**: `profile_changes` rows of the sources the rules read (`profile` always: a profile that is
  created or deleted changes every segment's answer; `event:<name>` per event leaf; `subscription:<channel>`)
  that the last refresh's snapshot did not see;
- **boundary crossers**: between the old and the new `as_of`, an event entering (`occurred_at` in (old, new]) or
  leaving a `within` window (in (old − w, new − w]), an attribute time crossing a `within_last` /
  `not_within_last` bound, a subscription record becoming visible (`updated_at` in (old, new]);
- **referenced segments**: `member_changes` of the segments the rules reference, unseen by that snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from segpipe.db import schema as t
from segpipe.rules.check import walk
from segpipe.rules.compile import attribute_operand
from segpipe.rules.features import EventFeature
from segpipe.rules.model import WINDOW_OPS, Attribute, Duration, Event, RuleNode, SegmentRef, Subscription
from segpipe.rules.operators import Bool, Expr, bind, window_start

RESET = "*"
"""The source of a TRUNCATE: everything may have changed."""


@dataclass
class RuleReach:
    """What a rule tree reads, as far as change tracking goes (`{segment: K}` leaves are not inlined)."""

    events: set[EventFeature] = field(default_factory=set)
    attribute_windows: set[tuple[str, Duration]] = field(default_factory=set)
    channels: set[str] = field(default_factory=set)
    segments: set[str] = field(default_factory=set)
    as_of_in_where: bool = False
    """An event `where` with within_last/not_within_last: which events count moves with as_of."""

    @property
    def sources(self) -> list[str]:
        found = {"profile"} | {f"event:{f.event}" for f in self.events}
        return sorted(found | {f"subscription:{channel}" for channel in self.channels})


def rule_reach(node: RuleNode) -> RuleReach:
    reach = RuleReach()
    for current, _, _ in walk(node):
        if isinstance(current, Event):
            reach.events.add(EventFeature.of(current))
            reach.as_of_in_where |= any(w.op in WINDOW_OPS for w in current.where)
        elif isinstance(current, Attribute) and current.op in WINDOW_OPS:
            reach.attribute_windows.add((current.attribute, current.value))
        elif isinstance(current, Subscription):
            reach.channels.add(current.subscription)
        elif isinstance(current, SegmentRef):
            reach.segments.add(current.segment)
    return reach


def stored_snapshot(segment_id: int) -> Expr:
    """The snapshot of the segment's last refresh (one InitPlan)."""
    s = t.incremental_state
    return sa.select(s.c.snapshot).where(s.c.segment_id == segment_id).scalar_subquery()


def unseen(xid: Expr, snapshot: Expr) -> Bool:
    """Written by a transaction the snapshot does not see (the xmin bound lets the (…, xid) indexes help)."""
    return sa.and_(xid >= sa.func.pg_snapshot_xmin(snapshot), sa.not_(sa.func.pg_visible_in_snapshot(xid, snapshot)))


def reset_since(segment_id: int) -> sa.Select[Any]:
    pc = t.profile_changes
    return sa.select(sa.exists().where(pc.c.source == RESET, unseen(pc.c.xid, stored_snapshot(segment_id))))


def any_change_since(segment_id: int) -> sa.Select[Any]:
    """Whether any customer-data change is unseen by the segment's stored snapshot (false without a state)."""
    pc = t.profile_changes
    return sa.select(sa.exists().where(unseen(pc.c.xid, stored_snapshot(segment_id))))


def bulk_member_changes_since(segment_id: int, referenced: Iterable[int]) -> sa.Select[Any]:
    """Whether a referenced segment changed so much that its changes were logged as 'many' (profile_id NULL)."""
    mc = t.member_changes
    ids = sorted(referenced)
    snapshot = stored_snapshot(segment_id)
    found = sa.exists().where(mc.c.segment_id.in_(ids), mc.c.profile_id.is_(None), unseen(mc.c.xid, snapshot))
    return sa.select(found)


def changed_profiles(segment_id: int, reach: RuleReach, referenced: Iterable[int]) -> list[sa.Select[Any]]:
    pc, mc = t.profile_changes, t.member_changes
    snapshot = stored_snapshot(segment_id)
    parts = [
        sa.select(pc.c.profile_id).where(
            pc.c.source.in_(reach.sources), pc.c.profile_id.is_not(None), unseen(pc.c.xid, snapshot)
        )
    ]
    ids = sorted(referenced)
    if ids:
        parts.append(
            sa.select(mc.c.profile_id).where(
                mc.c.segment_id.in_(ids), mc.c.profile_id.is_not(None), unseen(mc.c.xid, snapshot)
            )
        )
    return parts


def crossing_ranges(old: datetime, new: datetime, within: Duration | None) -> list[tuple[datetime | None, datetime]]:
    """The (low, high] ranges of times whose side of an `as_of`-relative bound differs between old and new."""
    ranges: list[tuple[datetime | None, datetime]] = [(old, new)]
    if within is not None:
        high = window_start(new, within)
        if high is not None:
            ranges.append((window_start(old, within), high))
    return ranges


def _in_ranges(column: Expr, ranges: list[tuple[datetime | None, datetime]]) -> Bool:
    tests = [sa.and_(*([column > bind(low)] if low is not None else []), column <= bind(high)) for low, high in ranges]
    return sa.or_(*tests)


def boundary_crossers(reach: RuleReach, old: datetime, new: datetime) -> list[sa.Select[Any]]:
    """Profiles for which a time bound of the rules moved past one of their rows (nothing when old == new)."""
    if new <= old:
        return []
    parts: list[sa.Select[Any]] = []
    ev, sub, p = t.events.c, t.subscriptions.c, t.profiles.c
    for event, within in sorted({(f.event, f.within) for f in reach.events}, key=repr):
        ranges = crossing_ranges(old, new, within)
        parts.append(sa.select(ev.profile_id).where(ev.name == bind(event), _in_ranges(ev.occurred_at, ranges)))
    if reach.channels:
        channels = [bind(channel) for channel in sorted(reach.channels)]
        recent = sa.and_(sub.updated_at > bind(old), sub.updated_at <= bind(new))
        parts.append(sa.select(sub.profile_id).where(sub.channel.in_(channels), recent))
    windows = [
        _in_ranges(attribute_operand(name).time(), crossing_ranges(old, new, duration))
        for name, duration in sorted(reach.attribute_windows, key=repr)
    ]
    if windows:
        parts.append(sa.select(p.id).where(sa.or_(*windows)))
    return parts
