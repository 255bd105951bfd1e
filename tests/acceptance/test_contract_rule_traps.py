"""Contract §4 traps beyond the basics: text and ordering edge cases, strict times, event and validation corners."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.acceptance.blackbox import Segpipe, error_line

AS_OF = "2026-03-01T00:00:00Z"


@pytest.fixture()
def sp(cli, tmp_path):
    return Segpipe(cli, tmp_path)


def _attr(op: str, value: Any = None, name: str = "v") -> dict[str, Any]:
    node: dict[str, Any] = {"attribute": name, "op": op}
    if value is not None:
        node["value"] = value
    return node


STRINGS = {
    "bs": "a\\b",
    "bs_pct": "50\\%",
    "pct": "50%",
    "us": "a_b",
    "axb": "axb",
    "e_acute": "é",
    "z": "z",
    "E": "É",
    "emoji": "😀",
    "bmp_high": "\uffef",
    "upper": "ABC",
    "lower": "abc",
    "space": " abc",
    "nl": "abc\n",
}


def test_text_operators_with_backslashes_and_non_ascii(sp):
    sp.load_rows("profiles", [{"external_id": sp.id(k), "attributes": {"v": v}} for k, v in STRINGS.items()])
    got = sp.match_many(
        {
            "contains_bs": _attr("contains", "\\"),
            "starts_a_bs": _attr("starts_with", "a\\"),
            "ends_bs_pct": _attr("ends_with", "\\%"),
            "ends_pct": _attr("ends_with", "%"),
            "contains_us": _attr("contains", "_"),
            "eq_bs": _attr("eq", "a\\b"),
            "gt_z": _attr("gt", "z"),
            "lt_A": _attr("lt", "A"),
            "between_e": _attr("between", ["é", "😀"]),
            "emoji_gt_bmp": _attr("gt", "\uffef"),
            "starts_emoji": _attr("starts_with", "😀"),
            "ends_nl": _attr("ends_with", "\n"),
            "contains_abc": _attr("contains", "abc"),
            "in_case": _attr("in", ["abc", "É"]),
        }
    )
    assert got["contains_bs"] == {"bs", "bs_pct"}
    assert got["starts_a_bs"] == {"bs"}
    assert got["ends_bs_pct"] == {"bs_pct"}
    assert got["ends_pct"] == {"bs_pct", "pct"}
    assert got["contains_us"] == {"us"}
    assert got["eq_bs"] == {"bs"}
    assert got["gt_z"] == {"e_acute", "E", "emoji", "bmp_high"}
    assert got["lt_A"] == {"bs_pct", "pct", "space"}
    assert got["between_e"] == {"e_acute", "emoji", "bmp_high"}  # É (U+00C9) < é (U+00E9)
    assert got["emoji_gt_bmp"] == {"emoji"}
    assert got["starts_emoji"] == {"emoji"}
    assert got["ends_nl"] == {"nl"}
    assert got["contains_abc"] == {"lower", "space", "nl"}
    assert got["in_case"] == {"lower", "E"}


NUMBERS = {
    "i1": 1,
    "f1": 1.0,
    "s1": "1",
    "t": True,
    "neg0": -0.0,
    "zero": 0,
    "small": 0.1,
    "exp": 1e3,
    "bigf": 1.5e300,
    "null": None,
}


def test_numbers_booleans_and_nulls(sp):
    rows = [{"external_id": sp.id(k), "attributes": {"v": v}} for k, v in NUMBERS.items() if k != "null"]
    rows.append({"external_id": sp.id("null"), "attributes": {"v": None, "w": 1}})
    sp.load_rows("profiles", rows)
    got = sp.match_many(
        {
            "eq1": _attr("eq", 1),
            "eq1f": _attr("eq", 1.0),
            "eq_s1": _attr("eq", "1"),
            "eq_true": _attr("eq", True),
            "neq_true": _attr("neq", True),
            "eq0": _attr("eq", 0),
            "eq_neg0": _attr("eq", -0.0),
            "eq_01": _attr("eq", 0.1),
            "gt_999": _attr("gt", 999.9999999),
            "eq_1000": _attr("eq", 1000),
            "gt_big": _attr("gte", 1.5e300),
            "not_exists": _attr("not_exists"),
            "exists": _attr("exists"),
            "not_in_num": _attr("not_in", [1, 2]),
            "lte_string_1": _attr("lte", "1"),
        }
    )
    assert got["eq1"] == {"i1", "f1"}
    assert got["eq1f"] == {"i1", "f1"}
    assert got["eq_s1"] == {"s1"}
    assert got["eq_true"] == {"t"}
    assert got["neq_true"] == set()
    assert got["eq0"] == {"zero", "neg0"}
    assert got["eq_neg0"] == {"zero", "neg0"}
    assert got["eq_01"] == {"small"}
    assert got["gt_999"] == {"exp", "bigf"}
    assert got["eq_1000"] == {"exp"}
    assert got["gt_big"] == {"bigf"}
    assert "null" in got["not_exists"] and "null" not in got["exists"]
    assert got["not_in_num"] == {"neg0", "zero", "small", "exp", "bigf"}
    assert got["lte_string_1"] == {"s1"}


TIMES = {
    "leap_sec": "2026-02-27T23:59:60Z",
    "h24": "2026-02-27T24:00:00Z",
    "feb29_2024": "2024-02-29T00:00:00Z",
    "feb29_2026": "2026-02-29T00:00:00Z",
    "lower_z": "2026-02-27T00:00:00z",
    "lower_t": "2026-02-27t00:00:00Z",
    "no_sec": "2026-02-27T00:00Z",
    "short_off": "2026-02-27T00:00:00+05",
    "compact_off": "2026-02-27T00:00:00+0530",
    "basic": "20260227T000000Z",
    "nano": "2026-02-28T23:59:59.999999999Z",
    "max_off": "2026-02-28T23:59:00+23:59",
    "neg_zero": "2026-02-27T00:00:00-00:00",
    "padded": " 2026-02-27T00:00:00Z",
    "trailing_nl": "2026-02-27T00:00:00Z\n",
    "arabic": "٢٠٢٦-02-27T00:00:00Z",
    "week": "2026-W09-5T00:00:00Z",
    "ordinal": "2026-058T00:00:00Z",
    "off60": "2026-02-27T00:00:00+00:60",
    "off99": "2026-02-27T00:00:00+05:99",
    "off24": "2026-02-27T00:00:00-24:00",
}


def test_strict_time_edge_strings(sp):
    sp.load_rows("profiles", [{"external_id": sp.id(k), "attributes": {"t": v}} for k, v in TIMES.items()])
    got = sp.match_many(
        {
            "before": _attr("before", "2030-01-01T00:00:00Z", "t"),
            "within": _attr("within_last", {"days": 30}, "t"),
            "not_within": _attr("not_within_last", {"minutes": 0}, "t"),
        }
    )
    real = {"feb29_2024", "nano", "max_off", "neg_zero"}
    assert got["before"] == real
    assert got["within"] == real - {"feb29_2024"}
    assert got["not_within"] == real


def test_time_comparison_boundaries_across_offsets(sp):
    rows = {
        "exact": "2026-02-22T00:00:00Z",
        "exact_off": "2026-02-22T01:00:00+01:00",
        "micro_after": "2026-02-22T00:00:00.000001Z",
        "micro_before": "2026-02-21T23:59:59.999999Z",
        "as_of": "2026-03-01T00:00:00Z",
        "as_of_off": "2026-02-28T19:00:00-05:00",
        "future": "2026-03-01T00:00:00.000001Z",
    }
    sp.load_rows("profiles", [{"external_id": sp.id(k), "attributes": {"t": v}} for k, v in rows.items()])
    got = sp.match_many(
        {
            "within7": _attr("within_last", {"days": 7}, "t"),
            "within_combo": _attr("within_last", {"days": 6, "hours": 23, "minutes": 60}, "t"),
            "not_within7": _attr("not_within_last", {"days": 7}, "t"),
            "before": _attr("before", "2026-02-22T00:00:00Z", "t"),
            "after": _attr("after", "2026-02-22T00:00:00Z", "t"),
            "after_date": _attr("after", "2026-02-22", "t"),
            "before_zoneless": _attr("before", "2026-02-22T00:00:00.000001", "t"),
            "future_neither": {
                "all": [
                    {"not": _attr("within_last", {"days": 7}, "t")},
                    {"not": _attr("not_within_last", {"days": 7}, "t")},
                ]
            },
        }
    )
    assert got["within7"] == {"micro_after", "as_of", "as_of_off"}
    assert got["within_combo"] == got["within7"]
    assert got["not_within7"] == {"exact", "exact_off", "micro_before"}
    assert got["before"] == {"micro_before"}
    assert got["after"] == {"micro_after", "as_of", "as_of_off", "future"}
    assert got["after_date"] == got["after"]
    assert got["before_zoneless"] == {"micro_before", "exact", "exact_off"}
    assert got["future_neither"] == {"future"}


@pytest.fixture()
def shop(sp):
    def ev(who, name, when, **props):
        return {"external_id": sp.id(who), "event": name, "occurred_at": when, "properties": props}

    sp.load_rows("profiles", [{"external_id": sp.id("none")}])
    sp.load_rows(
        "events",
        [
            ev("a", "buy", "2026-02-28T00:00:00Z", amount=0.1, ok=True),
            ev("a", "buy", "2026-02-28T00:00:00Z", amount=0.2, ok=False),
            ev("b", "buy", "2026-02-28T00:00:00Z", amount=True),
            ev("b", "buy", "2026-02-28T00:00:00Z", amount="5"),
            ev("b", "buy", "2026-02-28T00:00:00Z", amount=None),
            ev("c", "buy", "2026-02-22T00:00:00Z", amount=-4),
            ev("c", "buy", "2026-02-22T00:00:00.000001Z", amount=4),
            ev("d", "buy", "2026-03-01T00:00:00+01:00", amount=7, at="2026-02-28T12:00:00Z"),
            ev("d", "buy", "2026-03-01T00:30:00+01:00", amount=9, at="2026-02-28"),
            ev("e", "buy ", "2026-02-28T00:00:00Z", amount=1),
        ],
    )
    return sp


def test_event_aggregate_traps(shop):
    def agg(kind, op, value, **extra):
        return {"event": "buy", "aggregate": kind, "property": "amount", "op": op, "value": value, **extra}

    got = shop.match_many(
        {
            "sum03": agg("sum", "eq", 0.3),
            "sum0": agg("sum", "eq", 0),
            "sum_neq0": agg("sum", "neq", 0),
            "avg_015": agg("avg", "eq", 0.15),
            "min_lt0": agg("min", "lt", 0),
            "max_any": agg("max", "gt", -1000),
            "avg_not": {"not": agg("avg", "gt", -1000)},
            "count_w7": {"event": "buy", "within": {"days": 7}, "op": "eq", "value": 1},
            "sum_w7": agg("sum", "eq", 4, within={"days": 7}),
            "count_ok": {"event": "buy", "where": [{"property": "ok", "op": "eq", "value": True}]},
            "count_not_ok": {"event": "buy", "where": [{"property": "ok", "op": "neq", "value": True}]},
            "where_time": {"event": "buy", "where": [{"property": "at", "op": "within_last", "value": {"days": 1}}]},
            "where_in_mixed_ok": {"event": "buy", "where": [{"property": "amount", "op": "in", "value": [4, 9]}]},
            "count_zero_float": {"event": "buy", "op": "eq", "value": 0.0},
            "trailing_space": {"event": "buy "},
        }
    )
    assert got["sum03"] == {"a"}  # exact decimal arithmetic: 0.1 + 0.2 = 0.3
    assert got["sum0"] == {"b", "c", "e", "none"}
    assert got["sum_neq0"] == {"a", "d"}
    assert got["avg_015"] == {"a"}
    assert got["min_lt0"] == {"c"}
    assert got["max_any"] == {"a", "c", "d"}
    assert got["avg_not"] == {"b", "e", "none"}
    assert got["count_w7"] == {"c"}  # as_of − 7 days exactly is out, a microsecond later is in
    assert got["sum_w7"] == {"c"}
    assert got["count_ok"] == {"a"}
    assert got["count_not_ok"] == {"a"}
    assert got["where_time"] == {"d"}
    assert got["where_in_mixed_ok"] == {"c", "d"}
    assert got["count_zero_float"] == {"e", "none"}
    assert got["trailing_space"] == {"e"}


def _doc(sp: Segpipe, key: str, rules: Any) -> dict[str, Any]:
    return {"kind": "Segment", "key": sp.tag + key, "name": sp.tag + key, "rules": rules}


def _error(result) -> str:
    assert result.exit_code == 2, result.stdout + result.stderr
    assert json.loads(result.stdout)["error"]
    return error_line(result)


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        (
            {"any": [{"event": "x"}, {"all": [{"event": "x", "where": [{"property": "p", "op": "like"}]}]}]},
            "rules.any[1].all[0].where[0].op: unknown operator 'like'",
        ),
        ({"event": "x", "op": "equals", "value": 1}, "rules.op: unknown operator 'equals'"),
        ({"not": {"attribute": "a", "op": "EQ", "value": 1}}, "rules.not.op: unknown operator 'EQ'"),
        ({"all": [{"event": "x"}, {"attribute": "a", "op": "eq", "vaule": 1}]}, "rules.all[1]: unknown key 'vaule'"),
        ({"attribute": "a", "op": "within_last", "value": {"days": -1}}, "rules.value"),
        ({"attribute": "a", "op": "before", "value": "yesterday"}, "rules.value"),
        ({"attribute": "a", "op": "in", "value": []}, "rules.value"),
        ({"event": "x", "aggregate": "sum"}, "rules"),
        ({"subscription": "email", "status": "maybe"}, "rules.status: unknown subscription status 'maybe'"),
    ],
)
def test_refusals_name_the_json_path(sp, rules, expected):
    line = _error(sp.apply_docs(_doc(sp, "bad", rules)))
    assert line.startswith("error: ") and expected in line, line


def test_refused_document_changes_nothing_even_for_updates(sp):
    good = _doc(sp, "keep", {"attribute": "a", "op": "eq", "value": 1})
    assert sp.apply_docs(good).exit_code == 0
    changed = _doc(sp, "keep", {"attribute": "a", "op": "eq", "value": 2})
    new = _doc(sp, "new", {"event": "x"})
    bad = _doc(sp, "bad", {"all": [{"segment": sp.tag + "missing"}]})
    line = _error(sp.apply_docs(changed, new, bad))
    assert "rules.all[0].segment: unknown segment" in line
    shown = sp.ok("segment", "show", sp.tag + "keep")
    assert "2" not in json.dumps(shown.get("rules", shown.get("definition", "")))
    assert sp.run("segment", "show", sp.tag + "new", "--json").exit_code == 2


def test_forward_reference_within_one_apply_and_leaf_and_depth_paths(sp):
    a, b = sp.tag + "fa", sp.tag + "fb"
    result = sp.apply_docs(_doc(sp, "fa", {"segment": b}), _doc(sp, "fb", {"event": "x"}))
    assert result.exit_code == 0, result.stdout + result.stderr
    # depth: 32 nodes counting the root and the leaf, mixing not/all/any
    node: dict[str, Any] = {"segment": a}
    for i in range(31):
        node = [{"not": node}, {"all": [node]}, {"any": [node]}][i % 3]
    assert sp.apply_docs(_doc(sp, "deep", node)).exit_code == 0
    line = _error(sp.apply_docs(_doc(sp, "deeper", {"not": node})))
    assert "more than 32 nodes" in line
    leaves = {"all": [{"any": [{"event": f"e{i}"} for i in range(250)]}, {"any": [{"event": "x"}] * 251}]}
    assert "more than 500 leaves" in _error(sp.apply_docs(_doc(sp, "wide", leaves)))


def test_in_and_not_in_lists_may_mix_types(sp):
    values = {"n10": 10, "s10": "10", "t": True, "f": False, "n3": 3, "sx": "x", "obj": {"a": 1}}
    rows = [{"external_id": sp.id(k), "attributes": {"v": v}} for k, v in values.items()]
    rows.append({"external_id": sp.id("nov"), "attributes": {}})
    sp.load_rows("profiles", rows)
    got = sp.match_many(
        {
            "in": _attr("in", [10, "10", True]),
            "not_in": _attr("not_in", [10, "10", True]),
            "not_in_num_str": _attr("not_in", [10.0, "x"]),
            "not_not_in": {"not": _attr("not_in", [10, "10"])},
        }
    )
    # each item compares with its own type: 10 matches the number, "10" the string, true the boolean
    assert got["in"] == {"n10", "s10", "t"}
    assert got["not_in"] == {"f", "n3", "sx"}
    # a boolean, an object or a missing value has none of the list's types: not_in is false for them
    assert got["not_in_num_str"] == {"s10", "n3"}
    assert got["not_not_in"] == {"n10", "s10", "t", "f", "obj", "nov"}


@pytest.mark.parametrize("depth", [40, 900, 5000])
@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_absurdly_deep_rules_are_refused_as_invalid_input(sp, depth, suffix):
    text = json.dumps({"event": "x"})
    for _ in range(depth - 1):
        text = '{"not": ' + text + "}"
    path = sp.path(suffix)
    head = json.dumps({"kind": "Segment", "key": sp.tag + "deep", "name": sp.tag + "deep"})[:-1]
    path.write_text(head + ', "rules": ' + text + "}\n", encoding="utf-8")
    result = sp.run("apply", path, "--json")
    line = _error(result)
    assert "Traceback" not in result.output and "32" in line, line


def test_created_at_between_is_inclusive_and_compares_instants(sp):
    sp.load_rows(
        "profiles",
        [
            {"external_id": sp.id("low"), "created_at": "2026-02-01T00:00:00Z"},
            {"external_id": sp.id("mid"), "created_at": "2026-02-10T12:00:00+02:00"},
            {"external_id": sp.id("high"), "created_at": "2026-02-20T00:00:00Z"},
            {"external_id": sp.id("out"), "created_at": "2026-02-20T00:00:00.000001Z"},
        ],
    )
    got = sp.match_many(
        {
            "between": _attr("between", ["2026-02-01T00:00:00Z", "2026-02-20T01:00:00+01:00"], "created_at"),
            "eq_offset": _attr("eq", "2026-02-10T10:00:00Z", "created_at"),
            "in": _attr("in", ["2026-02-01T01:00:00+01:00", "2026-02-20"], "created_at"),
            "neq": _attr("neq", "2026-02-01", "created_at"),
            "after_date": _attr("after", "2026-02-20", "created_at"),
        }
    )
    assert got["between"] == {"low", "mid", "high"}
    assert got["eq_offset"] == {"mid"}
    assert got["in"] == {"low", "high"}
    assert got["neq"] == {"mid", "high", "out"}
    assert got["after_date"] == {"out"}
