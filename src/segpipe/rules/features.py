"""Per-profile facts the leaves test: event aggregates and the latest subscription status.

An `EventFeature` is everything about an event leaf except its final test (`op`, `value`): the events it reads
(name, window, `where`) and the aggregate over them. Leaves with equal features share one value, and a
feature can be computed by any strategy: a grouped scan per query (set mode), a correlated subquery per profile
(point mode), or a column of a precomputed per-profile feature table (`shared_scan`: refresh-all computes the
features several segments need in one grouped scan per event name, see `segpipe.refresh.shared`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from typing import Any

import sqlalchemy as sa

from segpipe.db import schema as t
from segpipe.rules.model import Duration, Event, Where
from segpipe.rules.operators import Bool, Expr, JsonKey, Operand, bind, compare, window_start
from segpipe.rules.parse import parse_rules


@dataclass(frozen=True, eq=False)
class EventFeature:
    """Equal (and hashed) by `key`: pydantic's equality would take a `where` value `true` for `1`."""

    event: str
    where: tuple[Where, ...]
    within: Duration | None
    aggregate: str
    property: str | None

    @classmethod
    def of(cls, node: Event) -> EventFeature:
        return cls(node.event, tuple(node.where), node.within, node.aggregate, node.property)

    @classmethod
    def from_key(cls, key: str) -> EventFeature:
        """The feature whose `key` this is."""
        node = parse_rules(json.loads(key), "feature")
        assert isinstance(node, Event)
        return cls.of(node)

    @cached_property
    def key(self) -> str:
        """Canonical JSON of the event leaf without its test (a valid event rule): equal exactly when the
        features are."""
        data: dict[str, Any] = {"event": self.event, "aggregate": self.aggregate}
        if self.where:
            data["where"] = [w.model_dump(mode="json", exclude_none=True) for w in self.where]
        if self.within is not None:
            data["within"] = self.within.model_dump(mode="json", exclude_none=True)
        if self.property is not None:
            data["property"] = self.property
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EventFeature) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def window_start(self, as_of: datetime) -> datetime | None:
        """The window's exclusive lower bound, or None when it has none (all events up to `as_of`)."""
        return window_start(as_of, self.within) if self.within is not None else None

    def window_filter(self, as_of: datetime) -> list[Bool]:
        """The events of this name in the window: `as_of − within < occurred_at ≤ as_of` (index-friendly)."""
        ev = t.events.c
        conditions = [ev.name == bind(self.event), ev.occurred_at <= bind(as_of)]
        low = self.window_start(as_of)
        if low is not None:
            conditions.append(ev.occurred_at > bind(low))
        return conditions

    def where_filter(self, as_of: datetime) -> list[Bool]:
        """The `where` conditions on the event's properties (attribute semantics)."""
        return [compare(JsonKey(t.events.c.properties, w.property), w.op, w.value, as_of) for w in self.where]

    def rows_filter(self, as_of: datetime) -> list[Bool]:
        return self.window_filter(as_of) + self.where_filter(as_of)

    def measure(self, only: Bool | None = None, number: Expr | None = None) -> Expr:
        """The aggregate over the event rows in scope (optionally `FILTER (WHERE only)`); NULL over no rows
        except for count. sum/avg/min/max read only events whose property is a jsonb number (`number`: that
        value computed elsewhere)."""
        call: sa.FunctionElement[Any]
        if self.aggregate == "count":
            call = sa.func.count()
        else:
            call = getattr(sa.func, self.aggregate)(number if number is not None else self.number())
        return call.filter(only) if only is not None else call

    def number(self) -> Expr:
        assert self.property is not None
        return property_number(self.property)

    def empty_value(self) -> Decimal | None:
        """The aggregate over no events: 0 for count and sum; none for avg/min/max (the leaf is false)."""
        return Decimal(0) if self.aggregate in {"count", "sum"} else None


def property_number(name: str) -> Expr:
    """An event's property `name` as a number; NULL when it is missing or not a jsonb number."""
    expr = JsonKey(t.events.c.properties, name).typed("number")
    assert expr is not None
    return expr


def shared_scan(features: Sequence[EventFeature], as_of: datetime) -> sa.Select[Any]:
    """One grouped scan of `events` computing several features: a row per profile having an event in scope (for
    each event name, the widest window its features need), with column `f<i>` holding `features[i]`'s value
    exactly as the per-query scan computes it (the name, narrower windows and `where` become FILTER clauses).

    The scoped events are a subquery fenced with OFFSET 0 that computes each aggregated property (`v<j>`) and
    each distinct `where` set (`w<k>`) once per event, and carries nothing else to the grouping.

    >>> from datetime import UTC, datetime
    >>> from segpipe.rules import parse_rules
    >>> week, ever = ({"event": "login", "within": {"days": 7}}, {"event": "login"})
    >>> features = [EventFeature.of(parse_rules(rule)) for rule in (week, ever)]
    >>> [c.name for c in shared_scan(features, datetime(2026, 1, 1, tzinfo=UTC)).selected_columns]
    ['profile_id', 'f0', 'f1']
    """
    names = sorted({feature.event for feature in features})
    widest = {name: _widest([f for f in features if f.event == name], as_of) for name in names}
    properties = sorted({f.property for f in features if f.property is not None})
    by_where = {_where_key(f): f for f in features if f.where}
    wheres = list(by_where)
    ev = t.events.c
    scope = [sa.and_(*feature.window_filter(as_of)) for feature in widest.values()]
    scoped = (
        sa.select(
            ev.profile_id,
            ev.occurred_at,
            *([ev.name] if len(names) > 1 else []),
            *(property_number(name).label(f"v{j}") for j, name in enumerate(properties)),
            *(sa.and_(*by_where[key].where_filter(as_of)).label(f"w{k}") for k, key in enumerate(wheres)),
        )
        .where(sa.or_(*scope) if len(scope) > 1 else scope[0])
        .offset(0)
        .subquery("scoped")
    )
    columns = []
    for i, feature in enumerate(features):
        only = [scoped.c.name == bind(feature.event)] if len(names) > 1 else []
        if feature.where:
            only.append(scoped.c[f"w{wheres.index(_where_key(feature))}"])
        low = feature.window_start(as_of)
        if low is not None and low != widest[feature.event].window_start(as_of):
            only.append(scoped.c.occurred_at > bind(low))
        number = scoped.c[f"v{properties.index(feature.property)}"] if feature.property is not None else None
        columns.append(feature.measure(sa.and_(*only) if only else None, number).label(f"f{i}"))
    return sa.select(scoped.c.profile_id, *columns).group_by(scoped.c.profile_id)


def _where_key(feature: EventFeature) -> str:
    return json.dumps([w.model_dump(mode="json", exclude_none=True) for w in feature.where], sort_keys=True)


def _widest(features: Sequence[EventFeature], as_of: datetime) -> EventFeature:
    """The feature whose window contains every other's (no lower bound beats any)."""
    return min(features, key=lambda f: (f.window_start(as_of) is not None, f.window_start(as_of) or as_of))


@dataclass(frozen=True)
class _Number(Operand):
    expr: Expr

    def typed(self, kind: str) -> Expr | None:
        return self.expr if kind == "number" else None


def event_test(node: Event, feature: EventFeature, value: Expr, as_of: datetime) -> Bool:
    """The leaf: the feature's value (NULL = no events) tested with the node's `op`/`value`, never NULL."""
    empty = feature.empty_value()
    if empty is not None:
        value = sa.func.coalesce(value, sa.literal(empty, sa.Numeric()))
    return compare(_Number(value), node.op, node.value, as_of)


def latest_subscriptions(channel: str, as_of: datetime) -> sa.Select[Any]:
    """(profile_id, status) of each profile's latest record on `channel` with updated_at ≤ as_of."""
    sub = t.subscriptions.c
    return (
        sa.select(sub.profile_id, sub.status)
        .where(sub.channel == bind(channel), sub.updated_at <= bind(as_of))
        .order_by(sub.profile_id, sub.updated_at.desc(), sub.id.desc())
        .distinct(sub.profile_id)
    )


def latest_status(channel: str, as_of: datetime, profile_id: Expr) -> Expr:
    """One profile's latest status on `channel` (NULL when it has no record) via its (profile, channel) index."""
    sub = t.subscriptions.c
    return (
        sa.select(sub.status)
        .where(sub.profile_id == profile_id, sub.channel == bind(channel), sub.updated_at <= bind(as_of))
        .order_by(sub.updated_at.desc(), sub.id.desc())
        .limit(1)
        .scalar_subquery()
    )
