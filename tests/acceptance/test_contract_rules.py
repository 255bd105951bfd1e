"""Contract §4 (rule language) checked through the CLI only: load data, apply segments, refresh, read members."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.acceptance.blackbox import Segpipe

AS_OF = "2026-03-01T00:00:00Z"


@pytest.fixture()
def sp(cli, tmp_path):
    return Segpipe(cli, tmp_path)


# Custom attribute `v` of every JSON type; `nov` has no `v` at all.
VALUES: dict[str, Any] = {
    "n5": 5,
    "n5f": 5.0,
    "s5": "5",
    "n10": 10,
    "neg": -1.5,
    "big": 12345678901234567890,
    "t": True,
    "f": False,
    "st": "true",
    "sa": "a",
    "sab": "ab",
    "sA": "A",
    "sZ": "Z",
    "sB": "B",
    "pct": "50%_off",
    "empty": "",
    "obj": {"x": 5},
    "arr": [5, "a"],
}
ALL = set(VALUES) | {"nov"}
STRINGS = {k for k, v in VALUES.items() if isinstance(v, str)}
NUMBERS = {k for k, v in VALUES.items() if isinstance(v, int | float) and not isinstance(v, bool)}


@pytest.fixture()
def zoo(sp):
    rows = [{"external_id": sp.id(k), "attributes": {"v": v}} for k, v in VALUES.items()]
    rows.append({"external_id": sp.id("nov"), "attributes": {"other": 1}})
    sp.load_rows("profiles", rows)
    return sp


def _attr(op: str, value: Any = None, name: str = "v") -> dict[str, Any]:
    node: dict[str, Any] = {"attribute": name, "op": op}
    if value is not None:
        node["value"] = value
    return node


def test_number_comparisons_follow_the_value_type(zoo):
    got = zoo.match_many(
        {
            "eq5": _attr("eq", 5),
            "eq5.0": _attr("eq", 5.0),
            "neq5": _attr("neq", 5),
            "gt5": _attr("gt", 5),
            "gte5": _attr("gte", 5),
            "lt5": _attr("lt", 5),
            "lte5": _attr("lte", 5),
            "between": _attr("between", [-2, 5]),
            "in": _attr("in", [5, 10]),
            "not_in": _attr("not_in", [5, 10]),
            "big": _attr("gt", 12345678901234567889),
        }
    )
    assert got["eq5"] == {"n5", "n5f"}
    assert got["eq5.0"] == {"n5", "n5f"}
    assert got["neq5"] == {"n10", "neg", "big"}
    assert got["gt5"] == {"n10", "big"}
    assert got["gte5"] == {"n5", "n5f", "n10", "big"}
    assert got["lt5"] == {"neg"}
    assert got["lte5"] == {"n5", "n5f", "neg"}
    assert got["between"] == {"n5", "n5f", "neg"}
    assert got["in"] == {"n5", "n5f", "n10"}
    assert got["not_in"] == {"neg", "big"}
    assert got["big"] == {"big"}


def test_string_comparisons_by_code_point(zoo):
    got = zoo.match_many(
        {
            "eq5": _attr("eq", "5"),
            "eq_empty": _attr("eq", ""),
            "neq_a": _attr("neq", "a"),
            "gt_a": _attr("gt", "a"),
            "lt_a": _attr("lt", "a"),
            "gte_B": _attr("gte", "B"),
            "lte_Z": _attr("lte", "Z"),
            "between": _attr("between", ["A", "Z"]),
            "in": _attr("in", ["5", "a", "true"]),
            "not_in": _attr("not_in", ["a", "ab"]),
            "case": _attr("eq", "z"),
        }
    )
    assert got["eq5"] == {"s5"}
    assert got["eq_empty"] == {"empty"}
    assert got["neq_a"] == STRINGS - {"sa"}
    # code points: "" < "5" < "50%_off" < "A" < "B" < "Z" < "a" < "ab" < "true"
    assert got["gt_a"] == {"sab", "st"}
    assert got["lt_a"] == {"empty", "s5", "pct", "sA", "sB", "sZ"}
    assert got["gte_B"] == {"sB", "sZ", "sa", "sab", "st"}
    assert got["lte_Z"] == {"empty", "s5", "pct", "sA", "sB", "sZ"}
    assert got["between"] == {"sA", "sB", "sZ"}
    assert got["in"] == {"s5", "sa", "st"}
    assert got["not_in"] == STRINGS - {"sa", "sab"}
    assert got["case"] == set()


def test_boolean_comparisons(zoo):
    got = zoo.match_many(
        {
            "eq_true": _attr("eq", True),
            "neq_true": _attr("neq", True),
            "in": _attr("in", [False]),
            "not_in": _attr("not_in", [False]),
            "string_true": _attr("eq", "true"),
        }
    )
    assert got["eq_true"] == {"t"}
    assert got["neq_true"] == {"f"}
    assert got["in"] == {"f"}
    assert got["not_in"] == {"t"}
    assert got["string_true"] == {"st"}


def test_text_operators_treat_percent_and_underscore_literally(zoo):
    got = zoo.match_many(
        {
            "contains_pct": _attr("contains", "%"),
            "contains_us": _attr("contains", "_"),
            "contains_both": _attr("contains", "%_"),
            "starts": _attr("starts_with", "50%"),
            "starts_a": _attr("starts_with", "a"),
            "ends": _attr("ends_with", "_off"),
            "ends_b": _attr("ends_with", "b"),
            "contains_5": _attr("contains", "5"),
            "contains_A": _attr("contains", "A"),
        }
    )
    assert got["contains_pct"] == {"pct"}
    assert got["contains_us"] == {"pct"}
    assert got["contains_both"] == {"pct"}
    assert got["starts"] == {"pct"}
    assert got["starts_a"] == {"sa", "sab"}
    assert got["ends"] == {"pct"}
    assert got["ends_b"] == {"sab"}
    assert got["contains_5"] == {"s5", "pct"}  # strings only: not the number 5, the object or the array
    assert got["contains_A"] == {"sA"}


def test_exists_not_exists_and_exact_complement(zoo):
    got = zoo.match_many(
        {
            "exists": _attr("exists"),
            "not_exists": _attr("not_exists"),
            "not_eq5": {"not": _attr("eq", 5)},
            "not_neq5": {"not": _attr("neq", 5)},
            "not_not": {"not": {"not": _attr("eq", 5)}},
            "nested_obj": _attr("eq", 5, name="v.x"),
            "any": {"any": [_attr("eq", 5), _attr("eq", "a")]},
        }
    )
    assert got["exists"] == set(VALUES)
    assert got["not_exists"] == {"nov"}
    assert got["not_eq5"] == ALL - {"n5", "n5f"}
    assert got["not_neq5"] == ALL - {"n10", "neg", "big"}
    assert got["not_not"] == {"n5", "n5f"}
    assert got["nested_obj"] == set()
    assert got["any"] == {"n5", "n5f", "sa"}


def test_email_and_external_id_are_string_attributes(sp):
    sp.load_rows(
        "profiles",
        [
            {"external_id": sp.id("a"), "email": "Ann@Example.com"},
            {"external_id": sp.id("b"), "email": "bob_1%@x.io"},
            {"external_id": sp.id("c")},
            {"external_id": sp.id("Z"), "email": "z@x.io"},
        ],
    )
    got = sp.match_many(
        {
            "eq": _attr("eq", "Ann@Example.com", "email"),
            "eq_lower": _attr("eq", "ann@example.com", "email"),
            "neq": _attr("neq", "Ann@Example.com", "email"),
            "exists": _attr("exists", name="email"),
            "not_exists": _attr("not_exists", name="email"),
            "contains": _attr("contains", "_1%", "email"),
            "ends": _attr("ends_with", "@x.io", "email"),
            "id_eq": _attr("eq", sp.id("b"), "external_id"),
            "id_in": _attr("in", [sp.id("a"), sp.id("c")], "external_id"),
            "id_gt": _attr("gt", sp.id("Z"), "external_id"),  # 'a','b','c' > 'Z' by code point
            "id_number": _attr("eq", 5, "external_id"),
        }
    )
    assert got["eq"] == {"a"}
    assert got["eq_lower"] == set()
    assert got["neq"] == {"b", "Z"}  # a missing email is not "not equal"
    assert got["exists"] == {"a", "b", "Z"}
    assert got["not_exists"] == {"c"}
    assert got["contains"] == {"b"}
    assert got["ends"] == {"b", "Z"}
    assert got["id_eq"] == {"b"}
    assert got["id_in"] == {"a", "c"}
    assert got["id_gt"] == {"a", "b", "c"}
    assert got["id_number"] == set()


TIMES: dict[str, Any] = {
    "z": "2026-02-20T00:00:00Z",
    "off": "2026-02-20T05:30:00+05:30",
    "neg": "2026-02-19T19:00:00-05:00",
    "frac": "2026-02-20T00:00:00.5Z",
    "at": "2026-03-01T00:00:00Z",
    "future": "2026-03-01T00:00:00.000001Z",
    "date": "2026-02-20",
    "zoneless": "2026-02-20T00:00:00",
    "impossible": "2026-13-45T00:00:00Z",
    "feb30": "2026-02-30T00:00:00Z",
    "space": "2026-02-20 00:00:00Z",
    "num": 5,
    "obj": {"t": "2026-02-20T00:00:00Z"},
}


@pytest.fixture()
def times(sp):
    rows = [{"external_id": sp.id(k), "attributes": {"t": v}} for k, v in TIMES.items()]
    rows.append({"external_id": sp.id("nov"), "attributes": {}})
    sp.load_rows("profiles", rows)
    return sp


def test_time_attributes_strict_iso(times):
    got = times.match_many(
        {
            "before": _attr("before", "2026-02-20T00:00:00Z", "t"),
            "before_frac": _attr("before", "2026-02-20T00:00:00.5Z", "t"),
            "after": _attr("after", "2026-02-20T00:00:00Z", "t"),
            "after_offset_value": _attr("after", "2026-02-20T05:30:00+05:30", "t"),
            "within9": _attr("within_last", {"days": 9}, "t"),
            "within10": _attr("within_last", {"days": 10}, "t"),
            "not_within9": _attr("not_within_last", {"days": 9}, "t"),
            "within_min": _attr("within_last", {"minutes": 1}, "t"),
            "not_within0": _attr("not_within_last", {"hours": 0}, "t"),
            "not_before": {"not": _attr("before", "2030-01-01T00:00:00Z", "t")},
        }
    )
    real = {"z", "off", "neg", "frac", "at", "future"}
    assert got["before"] == set()
    assert got["before_frac"] == {"z", "off", "neg"}
    assert got["after"] == {"frac", "at", "future"}
    assert got["after_offset_value"] == {"frac", "at", "future"}
    # as_of − d < t ≤ as_of: exactly as_of − 9 days is out, as_of is in, after as_of is out
    assert got["within9"] == {"frac", "at"}
    assert got["within10"] == {"z", "off", "neg", "frac", "at"}
    assert got["not_within9"] == {"z", "off", "neg"}
    assert got["within_min"] == {"at"}
    assert got["not_within0"] == {"z", "off", "neg", "frac", "at"}
    assert got["not_before"] == set(TIMES) - real | {"nov"}


def test_created_at_time_operators(sp):
    sp.load_rows(
        "profiles",
        [
            {"external_id": sp.id("old"), "created_at": "2025-01-01T00:00:00Z"},
            {"external_id": sp.id("edge"), "created_at": "2026-02-22T00:00:00Z"},
            {"external_id": sp.id("new"), "created_at": "2026-02-28T12:00:00+05:30"},
            {"external_id": sp.id("later"), "created_at": "2026-03-02T00:00:00Z"},
        ],
    )
    got = sp.match_many(
        {
            "before": _attr("before", "2026-02-22T00:00:00Z", "created_at"),
            "after": _attr("after", "2026-02-22T00:00:00Z", "created_at"),
            "within7": _attr("within_last", {"days": 7}, "created_at"),
            "not_within7": _attr("not_within_last", {"days": 7}, "created_at"),
            "exists": _attr("exists", name="created_at"),
        }
    )
    assert got["before"] == {"old"}
    assert got["after"] == {"new", "later"}
    assert got["within7"] == {"new"}
    assert got["not_within7"] == {"old", "edge"}
    assert got["exists"] == {"old", "edge", "new", "later"}


# --- events ----------------------------------------------------------------------------------------------------


@pytest.fixture()
def shop(sp):
    """Purchases with mixed-type amounts; `none` has no events, `other` only other events."""

    def ev(who, name, when, **props):
        return {"external_id": sp.id(who), "event": name, "occurred_at": when, "properties": props}

    sp.load_rows("profiles", [{"external_id": sp.id("none")}])
    sp.load_rows(
        "events",
        [
            ev("a", "purchase", "2026-02-20T00:00:00Z", amount=10, channel="web"),
            ev("a", "purchase", "2026-02-25T00:00:00Z", amount=20, channel="app"),
            ev("a", "purchase", "2026-03-01T00:00:00Z", amount=5, channel="web"),
            ev("a", "purchase", "2026-03-01T00:00:00.000001Z", amount=1000, channel="web"),
            ev("b", "purchase", "2026-02-27T00:00:00Z", amount="50", channel="web"),
            ev("b", "purchase", "2026-02-27T00:00:00Z", channel="web"),
            ev("c", "Purchase", "2026-02-27T00:00:00Z", amount=7),
            ev("d", "purchase", "2026-01-01T00:00:00Z", amount=-3, channel=["web"]),
            ev("other", "login", "2026-02-27T00:00:00Z"),
        ],
    )
    return sp


def test_event_counts_windows_and_as_of(shop):
    got = shop.match_many(
        {
            "performed": {"event": "purchase"},
            "never": {"event": "purchase", "op": "eq", "value": 0},
            "count3": {"event": "purchase", "op": "eq", "value": 3},
            "lt2": {"event": "purchase", "op": "lt", "value": 2},
            "within9": {"event": "purchase", "within": {"days": 9}, "op": "eq", "value": 2},
            "within9_0": {"event": "purchase", "within": {"days": 9}, "op": "eq", "value": 0},
            "within_hours": {"event": "purchase", "within": {"hours": 216}},
            "case": {"event": "Purchase"},
            "lower": {"event": "PURCHASE"},
            "neq1": {"event": "purchase", "op": "neq", "value": 1},
            "between": {"event": "purchase", "op": "between", "value": [1, 2]},
            "in": {"event": "purchase", "op": "in", "value": [0, 3]},
        }
    )
    # a: 3 purchases ≤ as_of (the one a microsecond after as_of never counts); b: 2; d: 1; c: only "Purchase"
    assert got["performed"] == {"a", "b", "d"}
    assert got["never"] == {"c", "none", "other"}
    assert got["count3"] == {"a"}
    assert got["lt2"] == {"d", "c", "none", "other"}
    # within 9 days of 2026-03-01: (02-20, 03-01] → a has 02-25 and 03-01 (02-20 exactly is out)
    assert got["within9"] == {"a", "b"}
    assert got["within9_0"] == {"d", "c", "none", "other"}
    assert got["within_hours"] == {"a", "b"}
    assert got["case"] == {"c"}
    assert got["lower"] == set()
    assert got["neq1"] == {"a", "b", "c", "none", "other"}
    assert got["between"] == {"b", "d"}
    assert got["in"] == {"a", "c", "none", "other"}


def test_event_aggregates_use_numbers_only_and_empty_semantics(shop):
    def agg(kind, op, value, **extra):
        return {"event": "purchase", "aggregate": kind, "property": "amount", "op": op, "value": value, **extra}

    got = shop.match_many(
        {
            "sum35": agg("sum", "eq", 35),
            "sum_lt10": agg("sum", "lt", 10),
            "sum_eq0": agg("sum", "eq", 0),
            "avg_neq0": agg("avg", "neq", 0),
            "avg": agg("avg", "between", [11.66, 11.67]),
            "min_lt100": agg("min", "lt", 100),
            "max_gte20": agg("max", "gte", 20),
            "max_neq": agg("max", "neq", 12345),
            "min_neq": agg("min", "neq", 12345),
            "sum_within": agg("sum", "eq", 25, within={"days": 9}),
        }
    )
    # b's amounts are a string and a missing value: no numbers → sum 0, avg/min/max none (false)
    assert got["sum35"] == {"a"}
    assert got["sum_lt10"] == {"b", "c", "d", "none", "other"}
    assert got["sum_eq0"] == {"b", "c", "none", "other"}
    assert got["avg_neq0"] == {"a", "d"}
    assert got["min_lt100"] == {"a", "d"}
    assert got["max_gte20"] == {"a"}
    assert got["max_neq"] == {"a", "d"}
    assert got["min_neq"] == {"a", "d"}
    assert got["sum_within"] == {"a"}
    assert got["avg"] == {"a"}  # (10 + 20 + 5) / 3: b's "50" and missing amount do not count


def test_event_where_filters(shop):
    def where(*filters, **test):
        return {"event": "purchase", "where": list(filters), **test}

    got = shop.match_many(
        {
            "web": where({"property": "channel", "op": "eq", "value": "web"}),
            "web2": where({"property": "channel", "op": "eq", "value": "web"}, op="eq", value=2),
            "amount_gt5": where({"property": "amount", "op": "gt", "value": 5}),
            "amount_string": where({"property": "amount", "op": "eq", "value": "50"}),
            "neq_web": where({"property": "channel", "op": "neq", "value": "web"}),
            "no_amount": where({"property": "amount", "op": "not_exists"}),
            "both": where(
                {"property": "channel", "op": "in", "value": ["web", "app"]},
                {"property": "amount", "op": "gte", "value": 10},
                op="eq",
                value=2,
            ),
            "none_web": where({"property": "channel", "op": "eq", "value": "web"}, op="eq", value=0),
        }
    )
    assert got["web"] == {"a", "b"}  # d's channel is an array: wrong type, not counted
    assert got["web2"] == {"a", "b"}
    assert got["amount_gt5"] == {"a"}  # b's "50" is a string
    assert got["amount_string"] == {"b"}
    assert got["neq_web"] == {"a"}  # missing or wrong type is not "not equal"
    assert got["no_amount"] == {"b"}
    assert got["both"] == {"a"}
    assert got["none_web"] == {"c", "d", "none", "other"}


# --- subscriptions and segments --------------------------------------------------------------------------------


def test_subscription_without_record_is_subscribed_and_future_records_do_not_count(sp):
    sp.load_rows("profiles", [{"external_id": sp.id("none")}])
    sp.load_rows(
        "subscriptions",
        [
            {
                "external_id": sp.id("later"),
                "channel": "sms",
                "status": "unsubscribed",
                "updated_at": "2026-03-01T00:00:01Z",
            },
            {
                "external_id": sp.id("now"),
                "channel": "sms",
                "status": "unsubscribed",
                "updated_at": "2026-03-01T00:00:00Z",
            },
        ],
    )
    got = sp.match_many(
        {
            "sub": {"subscription": "sms", "status": "subscribed"},
            "unsub": {"subscription": "sms", "status": "unsubscribed"},
            "not_sub": {"not": {"subscription": "sms", "status": "subscribed"}},
        }
    )
    assert got["sub"] == {"none", "later"}
    assert got["unsub"] == {"now"}
    assert got["not_sub"] == {"now"}


def test_segment_reference_is_evaluated_as_of_the_same_run(sp):
    sp.load_rows(
        "events",
        [
            {"external_id": sp.id("early"), "event": "signup", "occurred_at": "2026-01-01T00:00:00Z"},
            {"external_id": sp.id("late"), "event": "signup", "occurred_at": "2026-02-01T00:00:00Z"},
        ],
    )
    base = sp.segment("base", {"event": "signup"})
    ref = sp.segment("ref", {"segment": base}, scoped=False)
    neg = sp.segment("neg", {"not": {"segment": base}})
    # going back in time replaces live membership only when asked: --rewind (issue 11.5)
    for as_of, members in [
        ("2026-01-15T00:00:00Z", {"early"}),
        ("2026-03-01T00:00:00Z", {"early", "late"}),
        ("2025-12-01T00:00:00Z", set()),
    ]:
        rows = {r["key"]: r for r in sp.ok("refresh", ref, neg, "--as-of", as_of, "--rewind")}
        assert {base, ref, neg} <= set(rows)
        assert sp.names(sp.stored_members(ref)) == members
        assert sp.names(sp.stored_members(neg)) == {"early", "late"} - members
    # refreshing the dependency alone at another time, then the dependent again at an earlier time
    sp.refresh(base, "2026-03-01T00:00:00Z")
    assert sp.run("refresh", ref, "--as-of", "2026-01-15T00:00:00Z").exit_code == 3
    sp.ok("refresh", ref, "--as-of", "2026-01-15T00:00:00Z", "--rewind")
    assert sp.names(sp.stored_members(ref)) == {"early"}


# --- invalid definitions ---------------------------------------------------------------------------------------


def _segment_doc(sp: Segpipe, key: str, rules: Any, name: str | None = None) -> dict[str, Any]:
    return {"kind": "Segment", "key": sp.tag + key, "name": name or sp.tag + key, "rules": rules}


def _refused(result, message: str) -> None:
    assert result.exit_code == 2, result.stdout + result.stderr
    assert message in result.stderr, result.stderr
    assert message in json.loads(result.stdout)["error"]


def _segment_exists(sp: Segpipe, key: str) -> bool:
    result = sp.run("segment", "members", sp.tag + key, "--no-refresh")
    return result.exit_code == 0


def test_unknown_operator_is_refused_with_json_path(sp):
    rules = {
        "all": [
            {"attribute": "a", "op": "eq", "value": 1},
            {"event": "x"},
            {"attribute": "country", "op": "equals", "value": "DE"},
        ]
    }
    result = sp.apply_docs(_segment_doc(sp, "ok", {"event": "x"}), _segment_doc(sp, "bad", rules))
    _refused(result, "rules.all[2].op: unknown operator 'equals'")
    assert not _segment_exists(sp, "ok") and not _segment_exists(sp, "bad")  # nothing of that run applied
    dry = sp.apply_docs(_segment_doc(sp, "bad", rules), dry_run=True)
    _refused(dry, "rules.all[2].op: unknown operator 'equals'")


@pytest.mark.parametrize(
    ("rules", "path"),
    [
        ({"any": []}, "rules.any"),
        ({"attribute": "a", "op": "between", "value": [1]}, "rules.value"),
        ({"not": {"event": "x", "aggregate": "median", "property": "p"}}, "rules.not.aggregate"),
        ({"all": [{"subscription": "fax", "status": "subscribed"}]}, "rules.all[0].subscription"),
        ({"all": [{"event": "x", "within": {"weeks": 1}}]}, "rules.all[0].within"),
        ({"any": [{"event": "x"}, {"attribute": "a", "op": "eq"}]}, "rules.any[1].value"),
        ({"all": [{"attribute": "a", "op": "eq", "value": 1, "event": "x"}]}, "rules.all[0]"),
    ],
)
def test_invalid_definitions_name_the_json_path(sp, rules, path):
    result = sp.apply_docs(_segment_doc(sp, "bad", rules))
    assert result.exit_code == 2, result.stdout
    line = result.stderr.strip().splitlines()
    assert len(line) == 1 and line[0].startswith("error: ")
    assert f"{path}: " in line[0], line[0]


def _chain(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"event": "x"}
    for _ in range(depth - 1):
        node = {"not": node}
    return node


def test_depth_32_accepted_33_refused(sp):
    assert sp.apply_docs(_segment_doc(sp, "d32", _chain(32))).exit_code == 0
    result = sp.apply_docs(_segment_doc(sp, "d33", _chain(33)))
    assert result.exit_code == 2
    assert "32" in result.stderr


def test_depth_counts_all_and_any_nodes(sp):
    node: dict[str, Any] = {"event": "x"}
    for i in range(31):
        node = {"all": [node]} if i % 2 else {"any": [node, {"event": "y"}]}
    assert sp.apply_docs(_segment_doc(sp, "d32", node)).exit_code == 0
    assert sp.apply_docs(_segment_doc(sp, "d33", {"all": [node]})).exit_code == 2


def test_500_leaves_accepted_501_refused(sp):
    leaves = [{"attribute": "a", "op": "eq", "value": i} for i in range(501)]
    assert sp.apply_docs(_segment_doc(sp, "l500", {"any": leaves[:500]})).exit_code == 0
    result = sp.apply_docs(_segment_doc(sp, "l501", {"any": leaves}))
    assert result.exit_code == 2
    assert "500" in result.stderr


def test_unknown_reference_cycle_and_duplicate_name_refused(sp):
    missing = sp.apply_docs(_segment_doc(sp, "r", {"all": [{"event": "x"}, {"not": {"segment": sp.tag + "nope"}}]}))
    _refused(missing, "rules.all[1].not.segment")
    a, b = sp.tag + "a", sp.tag + "b"
    cycle = sp.apply_docs(_segment_doc(sp, "a", {"segment": b}), _segment_doc(sp, "b", {"segment": a}))
    assert cycle.exit_code == 2 and "cycle" in cycle.stderr
    self_ref = sp.apply_docs(_segment_doc(sp, "s", {"segment": sp.tag + "s"}))
    assert self_ref.exit_code == 2
    assert sp.apply_docs(_segment_doc(sp, "one", {"event": "x"}, name=sp.tag + "Same")).exit_code == 0
    dup = sp.apply_docs(_segment_doc(sp, "two", {"event": "x"}, name=sp.tag + "Same"))
    assert dup.exit_code == 2
    # a cycle through an existing segment
    assert sp.apply_docs(_segment_doc(sp, "p", {"event": "x"})).exit_code == 0
    assert sp.apply_docs(_segment_doc(sp, "q", {"segment": sp.tag + "p"})).exit_code == 0
    again = sp.apply_docs(_segment_doc(sp, "p", {"segment": sp.tag + "q"}))
    assert again.exit_code == 2 and "cycle" in again.stderr


def test_point_check_agrees_with_refresh(shop):
    rules = {
        "any": [
            {"event": "purchase", "aggregate": "sum", "property": "amount", "op": "gte", "value": 10},
            {"all": [{"event": "purchase", "within": {"days": 9}, "op": "eq", "value": 0}, {"event": "login"}]},
        ]
    }
    key = shop.segment("pt", rules)
    shop.refresh(key, AS_OF)
    members = shop.names(shop.stored_members(key))
    assert members == {"a", "other"}
    for name in ("a", "b", "c", "d", "none", "other"):
        verdict = shop.ok("segment", "check", key, shop.id(name), "--as-of", AS_OF)
        assert verdict["member"] is (name in members), name
    missing = shop.run("segment", "check", key, shop.id("nobody"), "--json")
    assert missing.exit_code == 2 and "error" in json.loads(missing.stdout)
