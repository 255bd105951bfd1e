"""Per-profile facts the leaves test: event aggregates and the latest subscription status.

An `EventFeature` is everything about an event leaf except its final test (`op`, `value`): the events it reads
(name, window, `where`) and the aggregate over them. Leaves with equal features share one value, and a
feature can be computed by any strategy: a grouped scan per query (set mode), a correlated subquery per profile
(point mode), or a column of a precomputed per-profile feature table (the seam for a shared scan of all events
in refresh-all: build the table from `rows_filter` / `measure`, then serve `event_value` from its columns).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from segpipe.db import schema as t
from segpipe.rules.model import Duration, Event, Where
from segpipe.rules.operators import Bool, Expr, JsonKey, Operand, bind, compare, window_start

_AGGREGATES = {"count": sa.func.count, "sum": sa.func.sum, "avg": sa.func.avg, "min": sa.func.min, "max": sa.func.max}


@dataclass(frozen=True)
class EventFeature:
    event: str
    where: tuple[Where, ...]
    within: Duration | None
    aggregate: str
    property: str | None

    @classmethod
    def of(cls, node: Event) -> EventFeature:
        return cls(node.event, tuple(node.where), node.within, node.aggregate, node.property)

    def window_filter(self, as_of: datetime) -> list[Bool]:
        """The events of this name in the window: `as_of − within < occurred_at ≤ as_of` (index-friendly)."""
        ev = t.events.c
        conditions = [ev.name == bind(self.event), ev.occurred_at <= bind(as_of)]
        low = window_start(as_of, self.within) if self.within is not None else None
        if low is not None:
            conditions.append(ev.occurred_at > bind(low))
        return conditions

    def where_filter(self, as_of: datetime) -> list[Bool]:
        """The `where` conditions on the event's properties (attribute semantics)."""
        return [compare(JsonKey(t.events.c.properties, w.property), w.op, w.value, as_of) for w in self.where]

    def rows_filter(self, as_of: datetime) -> list[Bool]:
        return self.window_filter(as_of) + self.where_filter(as_of)

    def measure(self, only: Bool | None = None) -> Expr:
        """The aggregate over the event rows in scope (optionally `FILTER (WHERE only)`); NULL over no rows
        except for count. sum/avg/min/max read only events whose property is a jsonb number."""
        if self.aggregate == "count":
            call = sa.func.count()
        else:
            assert self.property is not None
            number = JsonKey(t.events.c.properties, self.property).typed("number")
            call = _AGGREGATES[self.aggregate](number)
        return call.filter(only) if only is not None else call

    def empty_value(self) -> Decimal | None:
        """The aggregate over no events: 0 for count and sum; none for avg/min/max (the leaf is false)."""
        return Decimal(0) if self.aggregate in {"count", "sum"} else None


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
