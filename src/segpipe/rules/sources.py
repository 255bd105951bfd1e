"""Where the compiler reads per-profile facts from: the strategy seam between set and point evaluation.

- `JoinedSource` (set mode, all profiles): one grouped scan of `events` per (event name, window) computing every
  feature of that group with FILTER aggregates, the latest subscription per channel, and each referenced
  segment's members, all LEFT JOINed to `profiles`. Joins, not `IN`/`EXISTS` subqueries, so that `any` and `not`
  over them stay hash joins at any size (a subquery under OR/NOT becomes a per-row SubPlan).
- `CorrelatedSource` (point mode, one or a few profiles): correlated subqueries per profile, served by the
  `events(profile_id, name, occurred_at)` and `subscriptions(profile_id, channel, ...)` indexes.

- `SharedSource` (set mode within a refresh run): features precomputed by the run's shared scans are columns of
  per-profile feature tables (`features.shared_scan`), each table LEFT JOINed once; every other feature falls
  back to `JoinedSource`'s grouped scans. A profile without a row in a table has NULL features, exactly like a
  profile without events in a per-query scan.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa

from segpipe.db import schema as t
from segpipe.rules.features import EventFeature, latest_status, latest_subscriptions
from segpipe.rules.operators import Bool, Expr

_profile_id = t.profiles.c.id


class FeatureSource(Protocol):
    def event_value(self, feature: EventFeature) -> Expr:
        """The feature's value for the current profile; NULL when the profile has no events in scope."""

    def subscription_status(self, channel: str) -> Expr:
        """The latest status on `channel` as of `as_of`; NULL when there is no record."""

    def segment_member(self, key: str, members: sa.SelectBase | sa.FromClause) -> Bool:
        """Whether the current profile is among `members` (one column `profile_id`, distinct); never NULL."""

    def from_clause(self) -> sa.FromClause:
        """`profiles` with whatever the expressions above need joined to it."""


class JoinedSource:
    def __init__(self, as_of: datetime, features: Iterable[EventFeature]) -> None:
        self._as_of = as_of
        self._columns: dict[EventFeature, Expr] = {}
        self._joins: list[sa.FromClause] = []
        self._subscriptions: dict[str, Expr] = {}
        self._segments: dict[str, Bool] = {}
        groups: dict[tuple[str, Any], list[EventFeature]] = {}
        for feature in dict.fromkeys(features):
            groups.setdefault((feature.event, feature.within), []).append(feature)
        for group in groups.values():
            self._add_event_scan(group)

    def _add_event_scan(self, group: list[EventFeature]) -> None:
        ev = t.events.c
        columns = []
        for i, feature in enumerate(group):
            where = feature.where_filter(self._as_of)
            columns.append(feature.measure(sa.and_(*where) if where else None).label(f"f{i}"))
        scan = (
            sa.select(ev.profile_id, *columns)
            .where(*group[0].window_filter(self._as_of))
            .group_by(ev.profile_id)
            .subquery(f"ev{len(self._joins)}")
        )
        self._joins.append(scan)
        for i, feature in enumerate(group):
            self._columns[feature] = scan.c[f"f{i}"]

    def event_value(self, feature: EventFeature) -> Expr:
        return self._columns[feature]

    def subscription_status(self, channel: str) -> Expr:
        if channel not in self._subscriptions:
            latest = latest_subscriptions(channel, self._as_of).subquery(f"sub{len(self._joins)}")
            self._joins.append(latest)
            self._subscriptions[channel] = latest.c.status
        return self._subscriptions[channel]

    def segment_member(self, key: str, members: sa.SelectBase | sa.FromClause) -> Bool:
        if key not in self._segments:
            name = f"seg{len(self._joins)}"
            joined = members.subquery(name) if isinstance(members, sa.SelectBase) else members.alias(name)
            self._joins.append(joined)
            self._segments[key] = joined.c.profile_id.is_not(None)
        return self._segments[key]

    def from_clause(self) -> sa.FromClause:
        joined: sa.FromClause = t.profiles
        for table in self._joins:
            joined = joined.outerjoin(table, table.c.profile_id == _profile_id)
        return joined


class SharedSource(JoinedSource):
    def __init__(
        self, as_of: datetime, features: Iterable[EventFeature], shared: Mapping[EventFeature, sa.Column[Any]]
    ) -> None:
        """`shared`: feature → a column of a feature table keyed by `profile_id` (more may be given than used)."""
        needed = list(dict.fromkeys(features))
        super().__init__(as_of, [feature for feature in needed if feature not in shared])
        for feature in needed:
            column = shared.get(feature)
            if column is None:
                continue
            table = column.table
            if not any(joined is table for joined in self._joins):
                self._joins.append(table)
            self._columns[feature] = column


class CorrelatedSource:
    def __init__(self, as_of: datetime) -> None:
        self._as_of = as_of

    def event_value(self, feature: EventFeature) -> Expr:
        query = sa.select(feature.measure()).where(
            t.events.c.profile_id == _profile_id, *feature.rows_filter(self._as_of)
        )
        return query.scalar_subquery()

    def subscription_status(self, channel: str) -> Expr:
        return latest_status(channel, self._as_of, _profile_id)

    def segment_member(self, key: str, members: sa.SelectBase | sa.FromClause) -> Bool:
        sub = members.subquery() if isinstance(members, sa.SelectBase) else members.alias()
        return sa.exists().where(sub.c.profile_id == _profile_id)

    def from_clause(self) -> sa.FromClause:
        return t.profiles
