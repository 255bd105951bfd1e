"""Rule tree → SQL (contract §4): one small handler per node kind, over a `FeatureSource` strategy.

Every handler returns a two-valued predicate over `segpipe.profiles` (never NULL), so `not` is SQL NOT and
is the exact complement. Where per-profile facts come from (a grouped scan per query, correlated subqueries
per profile, or a precomputed feature table) is the source's business; see `segpipe.rules.sources`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import singledispatch
from typing import Any, Literal

import sqlalchemy as sa

from segpipe.db import schema as t
from segpipe.errors import InvalidInput
from segpipe.rules.check import children
from segpipe.rules.features import EventFeature, event_test
from segpipe.rules.model import TIME_COLUMN, All, Any_, Attribute, Event, Not, RuleNode, SegmentRef, Subscription
from segpipe.rules.operators import Bool, JsonKey, Operand, TextColumn, TimeColumn, bind, compare
from segpipe.rules.passes import optimize
from segpipe.rules.sources import CorrelatedSource, FeatureSource, JoinedSource, SharedSource

Resolved = sa.SelectBase | sa.FromClause | RuleNode
Resolver = Callable[[str], Resolved]
"""resolve_segment(key): the referenced segment's members (a select of one column, `profile_id`, distinct) or its
rule tree, which is then inlined."""

_TEXT_COLUMNS = {"external_id": t.profiles.c.external_id, "email": t.profiles.c.email}


@dataclass
class Context:
    as_of: datetime
    resolve_segment: Resolver | None
    source: FeatureSource
    resolved: dict[str, Resolved] = field(default_factory=dict)
    inlining: tuple[str, ...] = ()

    def resolve(self, key: str) -> Resolved:
        if key not in self.resolved:
            if self.resolve_segment is None:
                raise InvalidInput(f"segment '{key}' is referenced but no resolver was given", where="rules")
            self.resolved[key] = self.resolve_segment(key)
        return self.resolved[key]

    def entering(self, key: str) -> Context:
        """The context for inlining segment `key`'s rules; refuses a reference cycle."""
        if key in self.inlining:
            cycle = " -> ".join((*self.inlining[self.inlining.index(key) :], key))
            raise InvalidInput(f"reference cycle {cycle}", where="rules")
        return replace(self, inlining=(*self.inlining, key))


def compile_members(
    node: RuleNode,
    as_of: datetime,
    resolve_segment: Resolver | None,
    mode: Literal["set", "point"] = "set",
    shared: Mapping[EventFeature, sa.Column[Any]] | None = None,
) -> sa.Select[Any]:
    """A SELECT of one column, `profile_id`: the profiles matching `node` as of `as_of`.

    `mode="set"` evaluates all profiles with grouped scans joined to `profiles`; `mode="point"` uses correlated
    subqueries per profile (add `.where(profiles.c.external_id == ...)` for a point check). `shared` (set mode):
    features already computed as of `as_of` by `features.shared_scan`, as columns of tables keyed by
    `profile_id`; those are joined instead of scanning events again.

    >>> from datetime import UTC, datetime
    >>> from segpipe.rules import parse_rules
    >>> query = compile_members(parse_rules({"event": "login"}), datetime(2026, 1, 1, tzinfo=UTC), None)
    >>> [c.name for c in query.selected_columns]
    ['profile_id']
    """
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    node = optimize(node)
    context = Context(as_of, resolve_segment, CorrelatedSource(as_of))
    if mode == "set":
        features = collect_features(node, context)
        context.source = SharedSource(as_of, features, shared) if shared else JoinedSource(as_of, features)
    elif mode != "point":
        raise ValueError(f"unknown mode {mode!r}")
    predicate = to_sql(node, context)
    query = sa.select(t.profiles.c.id.label("profile_id")).select_from(context.source.from_clause())
    return query.where(predicate)


def compile_predicate(node: RuleNode, as_of: datetime, resolve_segment: Resolver | None) -> Bool:
    """The rule as a never-NULL predicate over `segpipe.profiles`, with correlated subqueries (point mode)."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    return to_sql(optimize(node), Context(as_of, resolve_segment, CorrelatedSource(as_of)))


def collect_features(node: RuleNode, context: Context) -> Iterator[EventFeature]:
    """Every event feature the tree needs, inlined segment rules included (set mode plans its scans first)."""
    stack: list[tuple[RuleNode, Context]] = [(node, context)]
    while stack:
        current, ctx = stack.pop()
        if isinstance(current, Event):
            yield EventFeature.of(current)
        elif isinstance(current, SegmentRef):
            resolved = ctx.resolve(current.segment)
            if isinstance(resolved, RuleNode):
                stack.append((optimize(resolved), ctx.entering(current.segment)))
        stack.extend((child, ctx) for _, child in children(current))


@singledispatch
def to_sql(node: RuleNode, context: Context) -> Bool:
    raise TypeError(f"not a rule node: {type(node).__name__}")


@to_sql.register
def _all(node: All, context: Context) -> Bool:
    return sa.and_(*(to_sql(child, context) for child in node.all))


@to_sql.register
def _any(node: Any_, context: Context) -> Bool:
    return sa.or_(*(to_sql(child, context) for child in node.any))


@to_sql.register
def _not(node: Not, context: Context) -> Bool:
    return sa.not_(to_sql(node.not_, context))


def attribute_operand(name: str) -> Operand:
    """`external_id`, `email` and `created_at` are profile columns; any other name is a key of `attributes`."""
    if name == TIME_COLUMN:
        return TimeColumn(t.profiles.c.created_at)
    if name in _TEXT_COLUMNS:
        return TextColumn(_TEXT_COLUMNS[name])
    return JsonKey(t.profiles.c.attributes, name)


@to_sql.register
def _attribute(node: Attribute, context: Context) -> Bool:
    return compare(attribute_operand(node.attribute), node.op, node.value, context.as_of)


@to_sql.register
def _event(node: Event, context: Context) -> Bool:
    feature = EventFeature.of(node)
    return event_test(node, feature, context.source.event_value(feature), context.as_of)


@to_sql.register
def _subscription(node: Subscription, context: Context) -> Bool:
    status = sa.func.coalesce(context.source.subscription_status(node.subscription), sa.literal_column("'subscribed'"))
    return status == bind(node.status)


@to_sql.register
def _segment(node: SegmentRef, context: Context) -> Bool:
    resolved = context.resolve(node.segment)
    if isinstance(resolved, RuleNode):
        return to_sql(optimize(resolved), context.entering(node.segment))
    return context.source.segment_member(node.segment, resolved)
