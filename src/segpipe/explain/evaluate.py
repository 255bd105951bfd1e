"""Explain one profile's membership: every node of the rule tree with its outcome and the value that decided it.

The leaves are compiled exactly as point membership compiles them (`compile_predicate`), so a leaf's outcome is
the compiler's; `all`/`any`/`not` combine them in Python, which is exact because the logic is two-valued. The
deciding values (the attribute, the event aggregate and how many events it read, the latest subscription record,
the stored membership of a referenced segment) are columns of the same query: one query for all leaves of one
profile, in chunks so that a 500-leaf tree stays under Postgres's column limit. No event reaches Python.
A `{segment: KEY}` reference is explained by KEY's own stored rules, recursively (live, as `segment check` does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection

from segpipe.db import schema as t
from segpipe.errors import InvalidInput, NotFound
from segpipe.explain import describe
from segpipe.refresh.profile_check import stored_rules
from segpipe.rules import RuleNode, compile_predicate
from segpipe.rules.check import children
from segpipe.rules.features import EventFeature
from segpipe.rules.model import TIME_COLUMN, All, Any_, Attribute, Event, Not, SegmentRef, Subscription
from segpipe.rules.operators import Expr, bind
from segpipe.rules.sources import CorrelatedSource
from segpipe.store.segments import get_segment, require_segment

RuleLookup = Callable[[str], RuleNode]
"""A referenced segment's rule tree, by key."""
StoredIds = Callable[[str], int | None]
"""A referenced segment's id (to read its stored membership), or None to skip that."""
COLUMNS_PER_QUERY = 600


@dataclass
class Explained:
    """One node of the explained tree. `observed` is the value that decided a leaf (None when there is none)."""

    path: str
    kind: str
    subject: str
    """What the node reads: `attribute country`, `event purchase: sum(amount) over 90 days`, `segment churned`."""
    needs: str = ""
    """What the value must be: `= "DE"`, `≥ 500`, `subscribed`."""
    outcome: bool = False
    observed: Any = None
    found: str = ""
    """The observed value in words: `= 430 (3 events)`, `"FR"`, `missing`, `no record: subscribed by default`."""
    segment: str | None = None
    stored_member: bool | None = None
    """For a segment reference: whether the profile is in that segment's stored members (its last refresh)."""
    record: dict[str, Any] | None = None
    """For a subscription leaf: the record used (`status`, `updated_at`), None when there is none."""
    children: list[Explained] = field(default_factory=list)
    _columns: list[Expr] = field(default_factory=list, repr=False)
    _values: list[Any] = field(default_factory=list, repr=False)

    @property
    def test(self) -> str:
        return f"{self.subject} {self.needs}" if self.needs else self.subject

    @property
    def text(self) -> str:
        """`event purchase: sum(amount) over 90 days = 430 (1 event), needs ≥ 500 → false`."""
        verdict = "true" if self.outcome else "false"
        if self.kind == "segment":
            return f"{self.subject} → {verdict}" + (f" ({self.found})" if self.found else "")
        if not self.needs:
            return f"{self.subject} → {verdict}"
        return f"{self.subject} {self.found}, needs {self.needs} → {verdict}"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"path": self.path, "kind": self.kind, "outcome": self.outcome, "test": self.test}
        data["text"] = self.text
        if self.kind in {"attribute", "event"}:
            data["observed"] = self.observed
        for name in ("segment", "stored_member", "record"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        if self.children:
            data["children"] = [child.to_json() for child in self.children]
        return data


@dataclass(frozen=True)
class Explanation:
    key: str | None
    external_id: str
    as_of: datetime
    tree: Explained

    @property
    def member(self) -> bool:
        return self.tree.outcome

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "external_id": self.external_id,
            "as_of": self.as_of,
            "member": self.member,
            "tree": self.tree.to_json(),
        }


def explain_rules(
    conn: Connection,
    node: RuleNode,
    external_id: str,
    as_of: datetime,
    rules_of: RuleLookup,
    stored_id: StoredIds = lambda key: None,
    key: str | None = None,
) -> Explanation:
    """Explain `node` for the profile `external_id` as of `as_of`; NotFound when there is no such profile."""
    builder = _Builder(as_of, rules_of, stored_id)
    tree = builder.build(node, "rules", ())
    values = _evaluate(conn, builder.leaves, external_id)
    for leaf, row in zip(builder.leaves, values, strict=True):
        leaf._values = row
    _settle(tree)
    return Explanation(key, external_id, as_of, tree)


def explain_membership(conn: Connection, key: str, external_id: str, as_of: datetime) -> Explanation:
    """Explain segment `key`'s stored rules for one profile (NotFound for an unknown segment or profile)."""
    require_segment(conn, key)

    def stored_id(ref: str) -> int | None:
        segment = get_segment(conn, ref)
        return segment.id if segment is not None and segment.last_refreshed_at is not None else None

    return explain_rules(
        conn, stored_rules(conn, key), external_id, as_of, lambda ref: stored_rules(conn, ref), stored_id, key
    )


@dataclass
class _Builder:
    as_of: datetime
    rules_of: RuleLookup
    stored_id: StoredIds
    leaves: list[Explained] = field(default_factory=list)

    def build(self, node: RuleNode, path: str, inlining: tuple[str, ...]) -> Explained:
        if isinstance(node, All | Any_ | Not):
            kind = "all" if isinstance(node, All) else "any" if isinstance(node, Any_) else "not"
            explained = Explained(path, kind, kind)
            explained.children = [self.build(child, path + s, inlining) for s, child in children(node)]
            return explained
        if isinstance(node, SegmentRef):
            return self._segment(node, path, inlining)
        explained = Explained(path, _leaf_kind(node), *_leaf_test(node))
        explained._columns = [compile_predicate(node, self.as_of, None), *self._observations(node)]
        self.leaves.append(explained)
        return explained

    def _segment(self, node: SegmentRef, path: str, inlining: tuple[str, ...]) -> Explained:
        key = node.segment
        if key in inlining:
            raise InvalidInput(f"reference cycle {' -> '.join((*inlining, key))}", where=path)
        explained = Explained(path, "segment", f"segment {key}", segment=key)
        explained.children = [self.build(self.rules_of(key), f"segment {key}: rules", (*inlining, key))]
        segment_id = self.stored_id(key)
        if segment_id is not None:
            m = t.memberships.c
            stored = sa.exists().where(m.segment_id == segment_id, m.profile_id == t.profiles.c.id)
            explained._columns = [stored]
            self.leaves.append(explained)
        return explained

    def _observations(self, node: RuleNode) -> list[Expr]:
        if isinstance(node, Attribute):
            return [_attribute_value(node.attribute)]
        if isinstance(node, Event):
            return _event_values(node, self.as_of)
        assert isinstance(node, Subscription)
        return [_subscription_record(node.subscription, self.as_of)]


def _leaf_kind(node: RuleNode) -> str:
    return "attribute" if isinstance(node, Attribute) else "event" if isinstance(node, Event) else "subscription"


def _leaf_test(node: RuleNode) -> tuple[str, str]:
    """(subject, needs) of a leaf."""
    if isinstance(node, Attribute):
        return f"attribute {node.attribute}", describe.test_text(node.op, node.value)
    if isinstance(node, Event):
        return describe.event_subject(node), describe.test_text(node.op, node.value)
    assert isinstance(node, Subscription)
    return f"subscription {node.subscription}:", node.status


def _attribute_value(name: str) -> Expr:
    """The attribute as stored: a profile column, or the jsonb value of a custom attribute (NULL when missing)."""
    if name == TIME_COLUMN:
        return t.profiles.c.created_at
    if name in {"external_id", "email"}:
        return t.profiles.c[name]
    return t.profiles.c.attributes.op("->", return_type=JSONB)(sa.literal(name, sa.Text()))


def _event_values(node: Event, as_of: datetime) -> list[Expr]:
    """The aggregate exactly as the compiler computes it, and how many events it read (one profile's index)."""
    feature = EventFeature.of(node)
    ev = t.events.c
    in_scope = sa.select(sa.func.count()).where(ev.profile_id == t.profiles.c.id, *feature.rows_filter(as_of))
    value = CorrelatedSource(as_of).event_value(feature)
    empty = feature.empty_value()
    if empty is not None:  # count and sum over no events are 0, as the compiler's test reads them
        value = sa.func.coalesce(value, sa.literal(empty, sa.Numeric()))
    return [value, in_scope.scalar_subquery()]


def _subscription_record(channel: str, as_of: datetime) -> Expr:
    sub = t.subscriptions.c
    record = sa.func.jsonb_build_object(
        sa.literal_column("'status'"), sub.status, sa.literal_column("'updated_at'"), sub.updated_at
    )
    query = (
        sa.select(record)
        .where(sub.profile_id == t.profiles.c.id, sub.channel == bind(channel), sub.updated_at <= bind(as_of))
        .order_by(sub.updated_at.desc(), sub.id.desc())
        .limit(1)
    )
    return query.scalar_subquery()


def _evaluate(conn: Connection, leaves: list[Explained], external_id: str) -> list[list[Any]]:
    """Every leaf's columns for the one profile, in as few queries as the column limit allows."""
    rows: list[list[Any]] = []
    chunk: list[Explained] = []
    for leaf in [*leaves, None]:
        width = sum(len(item._columns) for item in chunk)
        if leaf is None or (chunk and width + len(leaf._columns) > COLUMNS_PER_QUERY):
            rows.extend(_query(conn, chunk, external_id))
            chunk = []
        if leaf is not None:
            chunk.append(leaf)
    return rows


def _query(conn: Connection, leaves: list[Explained], external_id: str) -> list[list[Any]]:
    columns = [column for leaf in leaves for column in leaf._columns]
    query = sa.select(t.profiles.c.id, *columns).where(t.profiles.c.external_id == bind(external_id))
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(f"unknown profile '{external_id}'")
    values, at = list(row)[1:], 0
    result = []
    for leaf in leaves:
        result.append(values[at : at + len(leaf._columns)])
        at += len(leaf._columns)
    return result


def _settle(node: Explained) -> None:
    """Outcomes of inner nodes from their children; the words for each leaf's observed value."""
    for child in node.children:
        _settle(child)
    outcomes = [child.outcome for child in node.children]
    if node.kind == "all":
        node.outcome = all(outcomes)
    elif node.kind == "any":
        node.outcome = any(outcomes)
    elif node.kind == "not":
        node.outcome = not outcomes[0]
    elif node.kind == "segment":
        node.outcome = outcomes[0]
        if node._values:
            node.stored_member = bool(node._values[0])
            node.found = f"stored member as of its last refresh: {'yes' if node.stored_member else 'no'}"
    else:
        _settle_leaf(node)


def _settle_leaf(node: Explained) -> None:
    outcome, *observed = node._values
    node.outcome = bool(outcome)
    if node.kind == "attribute":
        node.observed = observed[0]
        node.found = "missing" if observed[0] is None else f"= {describe.show(observed[0])}"
    elif node.kind == "event":
        value, count = observed
        node.observed = value
        events = f"{count} event{'' if count == 1 else 's'}"
        node.found = f"no value ({events})" if value is None else f"= {describe.show(value)} ({events})"
    else:
        record = observed[0]
        node.record = record
        if record is None:
            node.found = "no record (subscribed by default)"
        else:
            node.found = f"{record['status']} (record of {record['updated_at']})"
