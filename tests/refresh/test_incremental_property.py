"""Property test: incremental refresh ≡ full recompute ≡ the reference interpreter.

Random data and rule trees (tests/rules strategies), then random steps — new events, new profiles, attribute
edits, subscription records, profile deletions (plain SQL: the triggers of migration 0016 must see every writer),
and as_of moves forward, backward or not at all — each followed by a refresh through the engine. After each
step every segment's stored members (raw `memberships` rows: a deleted profile's row must go too) and its
`member_count` equal the compiled full query and the reference interpreter.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Connection, Engine

from segpipe.refresh.engine import refresh
from segpipe.rules import compile_members, parse_rules
from tests.refresh.helpers import add_segment
from tests.rules.reference import Data, EventRow, Interpreter, Profile, SubscriptionRow
from tests.rules.test_property import AS_OF, MOMENTS, datasets, json_values, load, plain_leaf, strings, trees

HOUR = timedelta(hours=1)
TIMES = [*MOMENTS, *(AS_OF + hours * HOUR for hours in (1, 3, 7, 25, 49))]
STEPS_AS_OF = [timedelta(0), HOUR, 6 * HOUR, timedelta(days=1), -HOUR]

events = st.lists(
    st.tuples(
        st.integers(0, 50),
        st.sampled_from(["x", "X", "y"]),
        st.sampled_from(TIMES),
        st.fixed_dictionaries({}, optional={"p": json_values}),
    ),
    min_size=1,
    max_size=4,
)
step = st.one_of(
    st.tuples(st.just("events"), events),
    st.tuples(st.just("profile"), st.fixed_dictionaries({}, optional={"a": json_values, "b": strings})),
    st.tuples(st.just("attributes"), st.integers(0, 50), st.fixed_dictionaries({}, optional={"a": json_values})),
    st.tuples(
        st.just("subscription"),
        st.integers(0, 50),
        st.sampled_from(["email", "sms"]),
        st.sampled_from(["subscribed", "unsubscribed"]),
        st.sampled_from(TIMES),
    ),
    st.tuples(st.just("delete"), st.integers(0, 50)),
)
scenario = st.lists(st.tuples(step, st.sampled_from(STEPS_AS_OF)), min_size=1, max_size=4)
RULES = st.tuples(trees(plain_leaf, 3), trees(st.one_of(plain_leaf, st.just({"segment": "s1"})), 3))


def _apply(conn: Connection, data: Data, change: tuple[Any, ...]) -> None:
    """One change, to the database (plain SQL) and to the reference data alike."""
    kind, *args = change
    if not data.profiles and kind != "profile":
        return
    if kind == "profile":
        external_id = f"n{len(data.profiles)}-{sum(1 for _ in data.events)}-{len(data.subscriptions)}"
        statement = (
            "INSERT INTO segpipe.profiles (external_id, created_at, attributes) VALUES (:x, :c, CAST(:a AS jsonb))"
        )
        row = {"x": external_id, "c": AS_OF, "a": json.dumps(args[0])}
        new_id = conn.execute(sa.text(statement + " RETURNING id"), row).scalar_one()
        data.profiles.append(Profile(new_id, external_id, None, AS_OF, dict(args[0])))
        _bump(conn)
        return
    if kind == "events":
        for index, name, occurred_at, properties in args[0]:
            owner = data.profiles[index % len(data.profiles)]
            statement = (
                "INSERT INTO segpipe.events (profile_id, name, occurred_at, properties)"
                " VALUES (:p, :n, :o, CAST(:j AS jsonb))"
            )
            conn.execute(sa.text(statement), {"p": owner.id, "n": name, "o": occurred_at, "j": json.dumps(properties)})
            data.events.append(EventRow(owner.id, name, occurred_at, dict(properties)))
        _bump(conn)
        return
    profile = data.profiles[args[0] % len(data.profiles)]
    if kind == "attributes":  # an edit that does not bump the data version (psql): the change log sees it
        profile.attributes = dict(args[1])
        statement = "UPDATE segpipe.profiles SET attributes = CAST(:a AS jsonb) WHERE id = :id"
        conn.execute(sa.text(statement), {"a": json.dumps(args[1]), "id": profile.id})
        return
    elif kind == "subscription":
        _, channel, status, updated_at = args
        statement = (
            "INSERT INTO segpipe.subscriptions (profile_id, channel, status, updated_at)"
            " VALUES (:p, :c, :s, :u) RETURNING id"
        )
        new_id = conn.execute(sa.text(statement), {"p": profile.id, "c": channel, "s": status, "u": updated_at})
        data.subscriptions.append(SubscriptionRow(new_id.scalar_one(), profile.id, channel, status, updated_at))
    elif kind == "delete":
        for table in ("events", "subscriptions"):
            conn.execute(sa.text(f"DELETE FROM segpipe.{table} WHERE profile_id = :id"), {"id": profile.id})
        conn.execute(sa.text("DELETE FROM segpipe.profiles WHERE id = :id"), {"id": profile.id})
        data.profiles.remove(profile)
        data.events[:] = [e for e in data.events if e.profile_id != profile.id]
        data.subscriptions[:] = [s for s in data.subscriptions if s.profile_id != profile.id]
    _bump(conn)


def _bump(conn: Connection) -> None:
    conn.execute(sa.text("SELECT nextval('segpipe.data_version')"))


def _stored(conn: Connection, key: str) -> tuple[set[int], int]:
    query = (
        "SELECT m.profile_id FROM segpipe.memberships m JOIN segpipe.segments s ON s.id = m.segment_id WHERE s.key = :k"
    )
    ids = set(conn.execute(sa.text(query), {"k": key}).scalars())
    count = conn.execute(sa.text("SELECT member_count FROM segpipe.segments WHERE key = :k"), {"k": key}).scalar_one()
    return ids, count


def _check(engine: Engine, data: Data, rules: dict[str, Any], as_of: datetime) -> None:
    reference = Interpreter(data, as_of, rules)
    by_external = {p.external_id: p.id for p in data.profiles}
    inline = {key: parse_rules(tree) for key, tree in rules.items()}.__getitem__
    with engine.connect() as conn:
        for key, tree in rules.items():
            expected = {by_external[x] for x in reference.members(tree)}
            full = set(conn.execute(compile_members(parse_rules(tree), as_of, inline)).scalars())
            assert full == expected, (key, tree)
            assert _stored(conn, key) == (expected, len(expected)), (key, tree, as_of)


def _reset(engine: Engine, data: Data, rules: dict[str, Any]) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE segpipe.segments, segpipe.memberships, segpipe.refresh_runs CASCADE"))
        load(conn, data)
        for key, tree in rules.items():
            add_segment(conn, key, tree)


def run_scenario(
    engine: Engine, data: Data, trees_: tuple[dict[str, Any], dict[str, Any]], steps: list[Any]
) -> list[str]:
    rules = {"s1": trees_[0], "s2": trees_[1]}
    _reset(engine, data, rules)
    as_of, modes = AS_OF, []
    refresh(engine, None, as_of, rewind=True)  # an earlier example may have left later state
    _check(engine, data, rules, as_of)
    for change, delta in steps:
        with engine.begin() as conn:
            _apply(conn, data, change)
        as_of += delta
        result = refresh(engine, None, as_of, rewind=True)  # steps go back in time too
        modes += [s.mode or "up to date" for s in result.segments]
        assert not result.failed, result
        _check(engine, data, rules, as_of)
    return modes


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=datasets(), trees_=RULES, steps=scenario)
def test_incremental_equals_full_and_reference(engine, data: Data, trees_, steps) -> None:
    run_scenario(engine, data, trees_, steps)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=datasets(), trees_=RULES, steps=st.lists(st.tuples(step, st.sampled_from(STEPS_AS_OF)), max_size=8))
def test_incremental_equals_full_and_reference_long(engine, data: Data, trees_, steps) -> None:
    run_scenario(engine, data, trees_, steps)
