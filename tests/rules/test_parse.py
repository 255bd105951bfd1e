"""Parsing and whole-tree checks: strict model, `<json path>: <reason>` errors, limits, references, cycles."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from segpipe.errors import InvalidInput
from segpipe.rules import check_references, find_cycle, parse_rules, rules_to_json, segment_refs
from segpipe.rules.parse import rules_json_schema

SCHEMA_FILE = Path(__file__).parents[2] / "docs" / "segment-rules.schema.json"

VALID = [
    {"all": [{"attribute": "country", "op": "eq", "value": "DE"}, {"not": {"segment": "churned"}}]},
    {"event": "purchase", "aggregate": "sum", "property": "amount", "op": "gte", "value": 500, "within": {"days": 90}},
    {
        "event": "login",
        "where": [{"property": "device", "op": "in", "value": ["ios", "android"]}],
        "within": {"hours": 1, "minutes": 30},
    },
    {"subscription": "email", "status": "subscribed"},
    {
        "any": [
            {"attribute": "vip", "op": "eq", "value": True},
            {"attribute": "score", "op": "between", "value": [1, 2.5]},
        ]
    },
    {"attribute": "last_seen", "op": "within_last", "value": {"days": 7}},
    {"attribute": "last_seen", "op": "before", "value": "2026-01-01T00:00:00+02:00"},
    {"attribute": "created_at", "op": "gte", "value": "2026-01-01"},
    {"attribute": "email", "op": "exists"},
    {"attribute": "tag", "op": "not_exists", "value": "ignored"},
    {"event": "open", "op": "eq", "value": 0},
]


@pytest.mark.parametrize("rules", VALID)
def test_valid_rules_round_trip_through_their_canonical_json(rules):
    node = parse_rules(rules)
    assert parse_rules(rules_to_json(node)) == node
    assert json.loads(json.dumps(rules_to_json(node))) == rules_to_json(node)


def leaf(**fields):
    return {"attribute": "a", "op": "eq", "value": 1, **fields}


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"all": [leaf(), leaf(), leaf(op="equals")]}, "rules.all[2].op: unknown operator 'equals'"),
        ({"any": [{"not": leaf(value=None)}]}, "rules.any[0].not.value: 'eq' needs a value"),
        ({"all": []}, "rules.all: needs at least one entry"),
        ({"any": [leaf(extra=1)]}, "rules.any[0]: unknown key 'extra'"),
        ({"all": [leaf(op="gt"), {"attribute": "a", "op": "eq", "vaule": 1}]}, "rules.all[1]: unknown key 'vaule'"),
        ({"all": [{"attribute": "a", "value": 1}]}, "rules.all[0]: missing key 'op'"),
        ({"all": [leaf(), {"all": [leaf()], "any": [leaf()]}]}, "rules.all[1]: a node has exactly one of"),
        ({"not": {"attr": "x"}}, "rules.not: expected one of all, any, not, attribute, event, subscription, segment"),
        ({"all": [1]}, "rules.all[0]: expected a rule node"),
        (leaf(op="gt", value=True), "rules.value: 'gt' does not compare booleans"),
        (leaf(op="between", value=[1]), "rules.value: 'between' needs [low, high]"),
        (leaf(op="between", value=[1, "2"]), "rules.value: the values of 'between' must all have one type"),
        (leaf(op="in", value=[]), "rules.value: 'in' needs a non-empty list"),
        (leaf(op="in", value=5), "rules.value: 'in' needs a non-empty list"),
        (leaf(op="contains", value=5), "rules.value: 'contains' needs a string"),
        (leaf(op="within_last", value=7), "rules.value: 'within_last' needs a duration"),
        (leaf(op="within_last", value={"weeks": 1}), "rules.value: 'within_last' needs a duration"),
        (leaf(op="within_last", value={"days": -1}), "rules.value: 'within_last' needs a duration"),
        (leaf(op="before", value="soon"), "rules.value: not an ISO-8601 date-time: 'soon'"),
        (leaf(op="after", value="2026-13-45T00:00:00Z"), "rules.value: not a valid date-time"),
        (leaf(value=[1]), "rules.value: 'eq' needs a number, string or boolean value"),
        (leaf(value={"a": 1}), "rules.value: 'eq' needs a number, string or boolean value"),
        (leaf(attribute="created_at", value="yesterday"), "rules.value: not an ISO-8601 date-time"),
        (leaf(attribute="created_at", op="contains", value="2026"), "rules.value: 'contains' needs a string"),
        (leaf(attribute=""), "rules.attribute: must not be empty"),
        (leaf(attribute=5), "rules.attribute: expected a string"),
        ({"event": "x", "aggregate": "sum"}, "rules: 'sum' needs a property"),
        ({"event": "x", "property": "p"}, "rules: 'property' is used only with sum, avg, min or max"),
        ({"event": "x", "aggregate": "median", "property": "p"}, "rules.aggregate: unknown aggregate 'median'"),
        ({"event": "x", "op": "contains", "value": "a"}, "rules.op: unknown operator 'contains'"),
        ({"event": "x", "op": "gt", "value": "3"}, "rules.value: an event test compares numbers"),
        ({"event": "x", "op": "eq", "value": True}, "rules.value: an event test compares numbers"),
        ({"event": "x", "op": "gt"}, "rules: an event test needs both op and value"),
        ({"event": "x", "within": {}}, "rules.within: a duration needs days, hours or minutes"),
        ({"event": "x", "within": {"days": 1.5}}, "rules.within.days: expected a whole number"),
        (
            {"event": "x", "where": [{"property": "p", "op": "like", "value": "a"}]},
            "rules.where[0].op: unknown operator 'like'",
        ),
        ({"subscription": "fax", "status": "subscribed"}, "rules.subscription: unknown channel 'fax'"),
        ({"subscription": "sms", "status": "maybe"}, "rules.status: unknown subscription status 'maybe'"),
        ({"segment": "Not A Key"}, "rules.segment: invalid segment key 'Not A Key'"),
    ],
)
def test_invalid_rules_are_refused_with_their_json_path(rules, message):
    with pytest.raises(InvalidInput) as caught:
        parse_rules(rules)
    assert str(caught.value).startswith(message)


def test_path_prefix_is_the_callers():
    with pytest.raises(InvalidInput, match=r"^docs\[1\]\.rules\.op: unknown operator 'is'"):
        parse_rules(leaf(op="is"), "docs[1].rules")


def nested(depth: int) -> dict:
    node = leaf()
    for _ in range(depth - 1):
        node = {"not": node}
    return node


def test_depth_limit_counts_nodes_on_a_root_to_leaf_path():
    parse_rules(nested(32))
    with pytest.raises(InvalidInput, match=r"^rules(\.not){32}: more than 32 nodes on a root-to-leaf path"):
        parse_rules(nested(33))
    with pytest.raises(InvalidInput, match="more than 32 nodes"):
        parse_rules(nested(5000))


def test_leaf_limit():
    parse_rules({"any": [leaf()] * 500})
    with pytest.raises(InvalidInput, match=r"^rules: more than 500 leaves \(501\)"):
        parse_rules({"all": [{"any": [leaf()] * 250}, {"any": [leaf()] * 251}]})


def test_segment_refs_and_unknown_references():
    node = parse_rules({"all": [{"segment": "a"}, {"not": {"any": [{"segment": "b"}, {"segment": "a"}]}}]})
    assert segment_refs(node) == {"a", "b"}
    check_references(node, {"a", "b"})
    with pytest.raises(InvalidInput, match=r"^rules\.all\[1\]\.not\.any\[0\]\.segment: unknown segment 'b'"):
        check_references(node, {"a"})


def test_find_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"a"}}) == ["a", "a"]
    cycle = find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert cycle is not None and cycle[0] == cycle[-1] and set(cycle) == {"a", "b", "c"}


def test_json_schema_file_is_up_to_date():
    assert SCHEMA_FILE.read_text(encoding="utf-8") == rules_json_schema(), (
        "regenerate: python -c 'from segpipe.rules.parse import rules_json_schema as s; print(s(), end=\"\")'"
        " > docs/segment-rules.schema.json"
    )


@pytest.mark.parametrize("rules", VALID)
def test_json_schema_accepts_valid_rules(rules):
    jsonschema.validate(rules, json.loads(rules_json_schema()))
