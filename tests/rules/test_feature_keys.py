"""Event features are equal exactly when they read the same events the same way: a `where` value `true` is not
the number 1 (pydantic's model equality, and so `hash`, would take them for one feature and one SQL column)."""

from __future__ import annotations

from datetime import timedelta

from segpipe.rules import parse_rules
from segpipe.rules.features import EventFeature
from tests.rules.conftest import AS_OF, insert_events, insert_profiles


def where(value):
    return {"event": "e", "where": [{"property": "x", "op": "eq", "value": value}]}


def test_true_and_one_are_different_features_with_canonical_keys():
    flag, one = EventFeature.of(parse_rules(where(True))), EventFeature.of(parse_rules(where(1)))
    assert flag != one and len({flag, one}) == 2
    assert EventFeature.from_key(one.key) == one and EventFeature.from_key(one.key).key == one.key
    rule = {**where(1.5), "within": {"hours": 3}, "aggregate": "avg", "property": "p"}
    assert EventFeature.from_key(EventFeature.of(parse_rules(rule)).key) == EventFeature.of(parse_rules(rule))


def test_true_and_one_in_one_rule_read_their_own_values(conn, members):
    ids = insert_profiles(conn, [{"external_id": "numeric"}, {"external_id": "flag"}])
    at = AS_OF - timedelta(hours=1)
    insert_events(
        conn,
        ids,
        [
            {"external_id": "numeric", "event": "e", "occurred_at": at, "properties": {"x": 1}},
            {"external_id": "flag", "event": "e", "occurred_at": at, "properties": {"x": True}},
        ],
    )
    assert members({"all": [{"not": where(True)}, where(1)]}) == {"numeric"}
    assert members({"all": [where(True), {"not": where(1)}]}) == {"flag"}
