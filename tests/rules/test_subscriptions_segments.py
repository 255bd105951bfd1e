"""Subscription and segment leaves, `not` as the exact complement, and nested combinations."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from segpipe.errors import InvalidInput
from segpipe.rules import parse_rules
from tests.rules.conftest import AS_OF, insert_profiles, insert_subscriptions

HOUR = timedelta(hours=1)


@pytest.fixture()
def data(conn):
    ids = insert_profiles(conn, [{"external_id": x, "attributes": {"n": i}} for i, x in enumerate("abcdef")])
    insert_subscriptions(
        conn,
        ids,
        [
            {"external_id": "a", "channel": "email", "status": "unsubscribed", "updated_at": AS_OF - 2 * HOUR},
            {"external_id": "a", "channel": "email", "status": "subscribed", "updated_at": AS_OF - HOUR},
            {"external_id": "b", "channel": "email", "status": "unsubscribed", "updated_at": AS_OF},
            {"external_id": "c", "channel": "email", "status": "unsubscribed", "updated_at": AS_OF + HOUR},
            # A tie on updated_at: the later record (higher id) wins.
            {"external_id": "d", "channel": "email", "status": "subscribed", "updated_at": AS_OF - HOUR},
            {"external_id": "d", "channel": "email", "status": "unsubscribed", "updated_at": AS_OF - HOUR},
            {"external_id": "e", "channel": "sms", "status": "unsubscribed", "updated_at": AS_OF - HOUR},
        ],
    )
    return ids


def test_latest_record_up_to_as_of_wins_and_no_record_is_subscribed(data, members):
    assert members({"subscription": "email", "status": "unsubscribed"}) == {"b", "d"}
    assert members({"subscription": "email", "status": "subscribed"}) == {"a", "c", "e", "f"}
    assert members({"subscription": "sms", "status": "unsubscribed"}) == {"e"}
    assert members({"subscription": "push", "status": "subscribed"}) == set("abcdef")


def test_subscription_as_of_an_earlier_time(data, members):
    earlier = AS_OF - HOUR - timedelta(minutes=30)
    assert members({"subscription": "email", "status": "unsubscribed"}, earlier) == {"a"}


def test_not_is_the_exact_complement(data, members):
    rules = [
        {"attribute": "n", "op": "gt", "value": 2},
        {"attribute": "missing", "op": "neq", "value": 1},
        {"any": [{"subscription": "email", "status": "unsubscribed"}, {"attribute": "n", "op": "eq", "value": "0"}]},
        {"all": [{"event": "x", "op": "eq", "value": 0}, {"attribute": "n", "op": "in", "value": [1, 2, 3]}]},
    ]
    for rule in rules:
        assert members({"not": rule}) == set("abcdef") - members(rule)


def test_segment_reference_by_stored_members(conn, data, members):
    keep = {"b", "c"}

    def resolve(key):
        assert key == "vip"
        ids = [data[x] for x in sorted(keep)]
        return sa.select(
            sa.cast(sa.func.unnest(sa.literal(ids, sa.ARRAY(sa.BigInteger))), sa.BigInteger).label("profile_id")
        )

    assert members({"segment": "vip"}, resolve=resolve) == keep
    assert members({"not": {"segment": "vip"}}, resolve=resolve) == set("abcdef") - keep
    rule = {"any": [{"segment": "vip"}, {"attribute": "n", "op": "eq", "value": 5}]}
    assert members(rule, resolve=resolve) == keep | {"f"}


def test_segment_reference_inlined_recursively(data, members):
    stored = {
        "outer": parse_rules({"any": [{"segment": "inner"}, {"attribute": "n", "op": "eq", "value": 0}]}),
        "inner": parse_rules({"attribute": "n", "op": "gte", "value": 4}),
    }
    assert members({"segment": "outer"}, resolve=stored.__getitem__) == {"a", "e", "f"}
    assert members({"all": [{"segment": "outer"}, {"not": {"segment": "inner"}}]}, resolve=stored.__getitem__) == {"a"}


def test_reference_cycle_while_inlining_is_refused(data, members):
    stored = {"x": parse_rules({"segment": "y"}), "y": parse_rules({"not": {"segment": "x"}})}
    with pytest.raises(InvalidInput, match="cycle x -> y -> x"):
        members({"segment": "x"}, resolve=stored.__getitem__)
