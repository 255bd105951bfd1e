"""Event leaves (contract §4): counts, aggregates, windows, `where`, empty aggregates; both modes agree."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.rules.conftest import AS_OF, insert_events, insert_profiles

DAY = timedelta(days=1)


@pytest.fixture()
def data(conn):
    ids = insert_profiles(conn, [{"external_id": x} for x in ("never", "once", "thrice", "late", "texty")])
    at = AS_OF - DAY
    insert_events(
        conn,
        ids,
        [
            {"external_id": "once", "event": "purchase", "occurred_at": at, "properties": {"amount": 100, "c": "x%"}},
            *[
                {"external_id": "thrice", "event": "purchase", "occurred_at": at - i * DAY, "properties": {"amount": a}}
                for i, a in enumerate([10, 20.5, "30"])
            ],
            {"external_id": "thrice", "event": "Purchase", "occurred_at": at, "properties": {"amount": 1000}},
            {"external_id": "late", "event": "purchase", "occurred_at": AS_OF + timedelta(microseconds=1)},
            {"external_id": "texty", "event": "purchase", "occurred_at": at, "properties": {"amount": "5"}},
        ],
    )
    return ids


def test_performed_by_default(data, members):
    assert members({"event": "purchase"}) == {"once", "thrice", "texty"}


def test_event_names_are_case_sensitive(data, members):
    assert members({"event": "Purchase"}) == {"thrice"}


def test_events_after_as_of_never_count(data, members):
    assert "late" not in members({"event": "purchase", "op": "gte", "value": 1})
    assert "late" in members({"event": "purchase", "op": "eq", "value": 0})


def test_count_over_no_events_is_zero(data, members):
    assert members({"event": "purchase", "op": "eq", "value": 0}) == {"never", "late"}
    assert members({"event": "purchase", "op": "lt", "value": 3}) == {"never", "late", "once", "texty"}
    assert members({"event": "purchase", "op": "in", "value": [0, 3]}) == {"never", "late", "thrice"}
    assert members({"event": "purchase", "op": "between", "value": [0, 1]}) == {"never", "late", "once", "texty"}
    assert members({"event": "purchase", "op": "neq", "value": 1}) == {"never", "late", "thrice"}


def test_within_counts_as_of_minus_d_exclusive_to_as_of_inclusive(data, members):
    # thrice's purchases are 1, 2 and 3 days before as_of.
    assert members({"event": "purchase", "within": {"days": 2}, "op": "eq", "value": 1}) == {"thrice", "once", "texty"}
    assert members({"event": "purchase", "within": {"days": 3}, "op": "eq", "value": 2}) == {"thrice"}
    assert members({"event": "purchase", "within": {"hours": 72, "minutes": 1}, "op": "eq", "value": 3}) == {"thrice"}
    assert members({"event": "purchase", "within": {"days": 1}}) == set()


def test_sum_uses_only_numbers_and_is_zero_over_none(data, members):
    rule = {"event": "purchase", "aggregate": "sum", "property": "amount"}
    assert members({**rule, "op": "eq", "value": 30.5}) == {"thrice"}
    assert members({**rule, "op": "eq", "value": 0}) == {"never", "late", "texty"}
    assert members({**rule, "op": "lt", "value": 50}) == {"never", "late", "texty", "thrice"}


@pytest.mark.parametrize("aggregate", ["avg", "min", "max"])
def test_avg_min_max_over_none_are_false_whatever_the_op(data, members, aggregate):
    rule = {"event": "purchase", "aggregate": aggregate, "property": "amount"}
    for op, value in [("neq", 12345), ("lt", 1e9), ("gte", -1e9), ("not_in", [1])]:
        assert members({**rule, "op": op, "value": value}) == {"once", "thrice"}
    assert members({"not": {**rule, "op": "neq", "value": 12345}}) == {"never", "late", "texty"}


def test_avg_min_max_values(data, members):
    rule = {"event": "purchase", "property": "amount"}
    assert members({**rule, "aggregate": "avg", "op": "eq", "value": 15.25}) == {"thrice"}
    assert members({**rule, "aggregate": "min", "op": "eq", "value": 10}) == {"thrice"}
    assert members({**rule, "aggregate": "max", "op": "gt", "value": 20.5}) == {"once"}


def test_where_filters_events_with_attribute_semantics(data, members):
    where = [{"property": "amount", "op": "gte", "value": 20}]
    assert members({"event": "purchase", "where": where}) == {"once", "thrice"}
    assert members({"event": "purchase", "where": where, "op": "eq", "value": 0}) == {"never", "late", "texty"}
    literal = [{"property": "c", "op": "ends_with", "value": "%"}]
    assert members({"event": "purchase", "where": literal}) == {"once"}
    wrong_type = [{"property": "amount", "op": "neq", "value": "5"}]
    assert members({"event": "purchase", "where": wrong_type}) == {"thrice"}
    missing = [{"property": "nope", "op": "not_exists"}]
    assert members({"event": "purchase", "where": missing}) == {"once", "thrice", "texty"}


def test_same_event_in_several_leaves(data, members):
    rule = {
        "any": [
            {"event": "purchase", "within": {"days": 2}, "op": "gte", "value": 1},
            {"event": "purchase", "aggregate": "sum", "property": "amount", "op": "gt", "value": 20},
            {"not": {"event": "purchase", "within": {"days": 2}, "where": [{"property": "amount", "op": "exists"}]}},
        ]
    }
    assert members(rule) == {"never", "late", "once", "thrice", "texty"}
    assert members({"not": rule}) == set()
