"""Property test: random rule trees on small random data; the compiled SQL (set and point mode) must give exactly
the members of the pure-Python reference interpreter (tests/rules/reference.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segpipe.db import schema as t
from segpipe.rules import compile_members, compile_predicate, parse_rules
from tests.rules.reference import Data, EventRow, Interpreter, Profile, SubscriptionRow

AS_OF = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY, MICRO = timedelta(days=1), timedelta(microseconds=1)
MOMENTS = [AS_OF - 10 * DAY, AS_OF - 2 * DAY, AS_OF - DAY, AS_OF - DAY + MICRO, AS_OF - timedelta(hours=6), AS_OF,
           AS_OF + MICRO, AS_OF + DAY]  # fmt: skip


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


TIME_TEXTS = [iso(m) for m in MOMENTS] + [
    "2026-02-28T13:00:00+01:00",
    "2026-03-01T12:00:00.0000009Z",
    "2026-02-30T12:00:00Z",
    "2026-03-01",
    "2026-03-01T11:00:00",
]
STRINGS = ["", "a", "Z", "ab", "aB", "é", "%", "_", "a%_", "5", "p1", "x@y.z", *TIME_TEXTS[:3], TIME_TEXTS[-3]]
DURATIONS = [{"days": 1}, {"hours": 24}, {"hours": 6}, {"days": 2, "minutes": 1}, {"minutes": 0}, {"days": 400}]

numbers = st.sampled_from([-1, 0, 1, 2, 3, 1.5, 2.0, 10])
strings = st.sampled_from(STRINGS)
booleans = st.booleans()
json_values = st.one_of(numbers, strings, booleans, st.none(), st.just({"k": 1}), st.just([1]))
ATTRIBUTE_VALUES = {
    "a": json_values,
    "b": st.one_of(numbers, strings),
    "t": st.one_of(st.sampled_from(TIME_TEXTS), json_values),
}


@st.composite
def comparison(draw: st.DrawFn, *, time_column: bool = False) -> dict[str, Any]:
    """op + value for an attribute (or `where`) comparison, well-typed for the parser."""
    if time_column:
        op = draw(st.sampled_from(["eq", "neq", "gt", "lte", "between", "in", "not_in", "before", "after",
                                   "within_last", "not_within_last", "exists", "not_exists"]))  # fmt: skip
        times = st.sampled_from([iso(m) for m in MOMENTS] + ["2026-03-01"])
        value = {"between": st.lists(times, min_size=2, max_size=2), "in": st.lists(times, min_size=1, max_size=3),
                 "not_in": st.lists(times, min_size=1, max_size=3), "within_last": st.sampled_from(DURATIONS),
                 "not_within_last": st.sampled_from(DURATIONS)}.get(op, times)  # fmt: skip
        return {"op": op, "value": draw(value)}
    op = draw(st.sampled_from(["eq", "neq", "gt", "gte", "lt", "lte", "between", "in", "not_in", "contains",
                               "starts_with", "ends_with", "exists", "not_exists", "before", "after",
                               "within_last", "not_within_last"]))  # fmt: skip
    if op in {"exists", "not_exists"}:
        return {"op": op}
    if op in {"eq", "neq"}:
        value = draw(st.one_of(numbers, strings, booleans))
    elif op in {"gt", "gte", "lt", "lte"}:
        value = draw(st.one_of(numbers, strings))
    elif op == "between":
        value = draw(st.one_of(st.lists(numbers, min_size=2, max_size=2), st.lists(strings, min_size=2, max_size=2)))
    elif op in {"in", "not_in"}:
        mixed = st.one_of(numbers, strings, booleans)
        value = draw(st.one_of(*(st.lists(s, min_size=1, max_size=3) for s in (numbers, strings, booleans, mixed))))
    elif op in {"contains", "starts_with", "ends_with"}:
        value = draw(strings)
    elif op in {"before", "after"}:
        value = draw(st.sampled_from([iso(m) for m in MOMENTS] + ["2026-03-01"]))
    else:
        value = draw(st.sampled_from(DURATIONS))
    return {"op": op, "value": value}


@st.composite
def attribute_leaf(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(st.sampled_from(["a", "b", "t", "email", "external_id", "created_at"]))
    return {"attribute": name, **draw(comparison(time_column=name == "created_at"))}


@st.composite
def event_leaf(draw: st.DrawFn) -> dict[str, Any]:
    rule: dict[str, Any] = {"event": draw(st.sampled_from(["x", "X", "y"]))}
    where = draw(
        st.lists(st.builds(lambda p, c: {"property": p, **c}, st.sampled_from(["p", "q"]), comparison()), max_size=2)
    )
    if where:
        rule["where"] = where
    if draw(st.booleans()):
        rule["within"] = draw(st.sampled_from(DURATIONS))
    aggregate = draw(st.sampled_from(["count", "sum", "avg", "min", "max"]))
    if aggregate != "count":
        rule.update(aggregate=aggregate, property="p")
    if draw(st.integers(0, 3)):
        op = draw(st.sampled_from(["eq", "neq", "gt", "gte", "lt", "lte", "between", "in", "not_in"]))
        ints = st.sampled_from([-1, 0, 1, 2, 3, 1.5])
        value = draw(st.lists(ints, min_size=2, max_size=2) if op == "between" else
                     st.lists(ints, min_size=1, max_size=3) if op in {"in", "not_in"} else ints)  # fmt: skip
        rule.update(op=op, value=value)
    return rule


subscription_leaf = st.builds(
    lambda c, s: {"subscription": c, "status": s},
    st.sampled_from(["email", "sms"]),
    st.sampled_from(["subscribed", "unsubscribed"]),
)
plain_leaf = st.one_of(attribute_leaf(), event_leaf(), subscription_leaf)


def trees(leaf: st.SearchStrategy[dict[str, Any]], max_leaves: int) -> st.SearchStrategy[dict[str, Any]]:
    return st.recursive(
        leaf,
        lambda kids: st.one_of(
            st.lists(kids, min_size=1, max_size=3).map(lambda items: {"all": items}),
            st.lists(kids, min_size=1, max_size=3).map(lambda items: {"any": items}),
            kids.map(lambda child: {"not": child}),
        ),
        max_leaves=max_leaves,
    )


@st.composite
def datasets(draw: st.DrawFn) -> Data:
    count = draw(st.integers(min_value=1, max_value=6))
    moments = st.sampled_from(MOMENTS)
    profiles = [
        Profile(
            id=i + 1,
            external_id=f"p{i}",
            email=draw(st.one_of(st.none(), strings)),
            created_at=draw(moments),
            attributes=draw(st.fixed_dictionaries({}, optional=ATTRIBUTE_VALUES)),
        )
        for i in range(count)
    ]
    owners = st.integers(min_value=1, max_value=count)
    events = draw(st.lists(st.builds(EventRow, owners, st.sampled_from(["x", "X", "y"]), moments,
                                     st.fixed_dictionaries({}, optional={"p": json_values, "q": json_values})),
                           max_size=16))  # fmt: skip
    subs = draw(st.lists(st.tuples(owners, st.sampled_from(["email", "sms"]),
                                   st.sampled_from(["subscribed", "unsubscribed"]), moments), max_size=8))  # fmt: skip
    subscriptions = [SubscriptionRow(i + 1, *record) for i, record in enumerate(subs)]
    return Data(profiles, events, subscriptions)


def load(conn: sa.Connection, data: Data) -> None:
    conn.execute(sa.text("TRUNCATE segpipe.profiles, segpipe.events, segpipe.subscriptions RESTART IDENTITY"))
    conn.execute(
        sa.text(
            "INSERT INTO segpipe.profiles (external_id, email, created_at, attributes)"
            " VALUES (:x, :e, :c, CAST(:a AS jsonb))"
        ),
        [{"x": p.external_id, "e": p.email, "c": p.created_at, "a": json.dumps(p.attributes)} for p in data.profiles],
    )
    if data.events:
        conn.execute(
            sa.text(
                "INSERT INTO segpipe.events (profile_id, name, occurred_at, properties)"
                " VALUES (:p, :n, :o, CAST(:j AS jsonb))"
            ),
            [{"p": e.profile_id, "n": e.name, "o": e.occurred_at, "j": json.dumps(e.properties)} for e in data.events],
        )
    if data.subscriptions:
        conn.execute(
            sa.text(
                "INSERT INTO segpipe.subscriptions (profile_id, channel, status, updated_at) VALUES (:p, :c, :s, :u)"
            ),
            [{"p": s.profile_id, "c": s.channel, "s": s.status, "u": s.updated_at} for s in data.subscriptions],
        )


def external_ids(conn: sa.Connection, query: sa.Select[Any]) -> set[str]:
    sub = query.subquery()
    return set(
        conn.execute(sa.select(t.profiles.c.external_id).join(sub, sub.c.profile_id == t.profiles.c.id)).scalars()
    )


RULES = st.lists(trees(st.one_of(plain_leaf, st.just({"segment": "s1"})), 4), min_size=1, max_size=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=datasets(), rules=RULES, stored=trees(plain_leaf, 3))
def test_compiled_sql_matches_the_reference(
    engine, data: Data, rules: list[dict[str, Any]], stored: dict[str, Any]
) -> None:
    stored_node = parse_rules(stored)
    s1_members = Interpreter(data, AS_OF).members(stored)
    s1_ids = sorted(p.id for p in data.profiles if p.external_id in s1_members)

    def stored_members(key: str) -> sa.Select[Any]:
        return sa.select(sa.func.unnest(sa.literal(s1_ids, sa.ARRAY(sa.BigInteger))).label("profile_id"))

    with engine.connect() as conn, conn.begin() as transaction:
        load(conn, data)
        for rule in rules:
            expected = Interpreter(data, AS_OF, {"s1": stored}).members(rule)
            node = parse_rules(rule)
            assert external_ids(conn, compile_members(node, AS_OF, stored_members, mode="set")) == expected, rule
            inline = {"s1": stored_node}.__getitem__
            assert external_ids(conn, compile_members(node, AS_OF, inline, mode="set")) == expected, rule
            assert external_ids(conn, compile_members(node, AS_OF, inline, mode="point")) == expected, rule
            predicate = compile_predicate(node, AS_OF, inline)
            verdicts = dict(conn.execute(sa.select(t.profiles.c.external_id, predicate)).all())
            assert verdicts == {p.external_id: p.external_id in expected for p in data.profiles}, rule
        transaction.rollback()
