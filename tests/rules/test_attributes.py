"""Attribute leaves (contract §4): one test per operator and per semantic edge, both modes agree."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.rules.conftest import insert_profiles

PROFILES = [
    {"external_id": "num5", "email": "a@x.com", "attributes": {"v": 5, "country": "DE"}},
    {"external_id": "num10", "email": "b%_@y.com", "attributes": {"v": 10.5, "country": "de"}},
    {"external_id": "str5", "attributes": {"v": "5", "country": "Zürich"}},
    {"external_id": "boolt", "attributes": {"v": True, "country": "a"}},
    {"external_id": "nullv", "attributes": {"v": None, "country": "Z"}},
    {"external_id": "objv", "attributes": {"v": {"x": 1}}},
    {"external_id": "none", "attributes": {}},
]
ALL = {p["external_id"] for p in PROFILES}


@pytest.fixture()
def data(conn):
    return insert_profiles(conn, PROFILES)


def attr(op, value=None, name="v"):
    node = {"attribute": name, "op": op}
    if value is not None:
        node["value"] = value
    return node


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("eq", 5, {"num5"}),
        ("eq", 5.0, {"num5"}),
        ("eq", "5", {"str5"}),
        ("eq", True, {"boolt"}),
        ("eq", False, set()),
        ("neq", 5, {"num10"}),
        ("neq", "5", set()),
        ("neq", False, {"boolt"}),
        ("gt", 5, {"num10"}),
        ("gte", 5, {"num5", "num10"}),
        ("lt", 10.5, {"num5"}),
        ("lte", 10.5, {"num5", "num10"}),
        ("gt", "4", {"str5"}),
        ("between", [5, 10.5], {"num5", "num10"}),
        ("between", [6, 7], set()),
        ("between", ["0", "9"], {"str5"}),
        ("in", [5, 7], {"num5"}),
        ("in", ["5"], {"str5"}),
        ("in", [True], {"boolt"}),
        ("not_in", [5], {"num10"}),
        ("not_in", ["x"], {"str5"}),
        ("not_in", [False], {"boolt"}),
        ("exists", None, {"num5", "num10", "str5", "boolt", "objv"}),
        ("not_exists", None, {"nullv", "none"}),
    ],
)
def test_comparisons_follow_the_value_type(data, members, op, value, expected):
    assert members(attr(op, value)) == expected


def test_missing_or_other_type_is_false_and_not_complements(data, members):
    assert members(attr("neq", 7)) == {"num5", "num10"}
    assert members({"not": attr("neq", 7)}) == ALL - {"num5", "num10"}
    assert members({"not": attr("not_in", [7])}) == ALL - {"num5", "num10"}


def test_strings_are_ordered_by_code_point(data, members):
    # Code-point order: 'DE' < 'Z' < 'Zürich' < 'a' < 'de' (a linguistic collation would put 'a' first).
    assert members(attr("lt", "a", "country")) == {"num5", "str5", "nullv"}
    assert members(attr("gt", "Z", "country")) == {"num10", "str5", "boolt"}


def test_eq_is_case_sensitive(data, members):
    assert members(attr("eq", "DE", "country")) == {"num5"}


def test_exists_is_true_for_any_present_non_null_value(data, members):
    assert members(attr("exists", 5)) == {"num5", "num10", "str5", "boolt", "objv"}


def test_text_operators_treat_percent_and_underscore_literally(data, members):
    assert members(attr("contains", "%_", "email")) == {"num10"}
    assert members(attr("contains", "_", "email")) == {"num10"}
    assert members(attr("starts_with", "b%", "email")) == {"num10"}
    assert members(attr("starts_with", "_", "email")) == set()
    assert members(attr("ends_with", ".com", "email")) == {"num5", "num10"}
    assert members(attr("contains", "ü", "country")) == {"str5"}
    assert members(attr("contains", "", "country")) == ALL - {"objv", "none"}


def test_text_operators_need_a_string(data, members):
    assert members(attr("contains", "5")) == {"str5"}


def test_profile_columns(data, members):
    assert members(attr("eq", "num5", "external_id")) == {"num5"}
    assert members(attr("exists", None, "email")) == {"num5", "num10"}
    assert members(attr("not_exists", None, "email")) == ALL - {"num5", "num10"}
    assert members(attr("neq", "a@x.com", "email")) == {"num10"}
    assert members(attr("eq", 5, "external_id")) == set()
    assert members(attr("exists", None, "created_at")) == ALL


def test_created_at_compares_as_time(conn, members):
    insert_profiles(
        conn,
        [
            {"external_id": "old", "created_at": datetime(2020, 1, 1, tzinfo=UTC)},
            {"external_id": "new", "created_at": datetime(2026, 2, 28, 12, tzinfo=UTC)},
        ],
    )
    assert members(attr("gt", "2025-01-01T00:00:00Z", "created_at")) == {"new"}
    assert members(attr("eq", "2020-01-01T01:00:00+01:00", "created_at")) == {"old"}
    assert members(attr("before", "2021-01-01", "created_at")) == {"old"}
    assert members(attr("within_last", {"days": 1, "minutes": 1}, "created_at")) == {"new"}
    assert members(attr("not_within_last", {"days": 1}, "created_at")) == {"old", "new"}
    assert members(attr("between", ["2019-01-01", "2020-01-01"], "created_at")) == {"old"}
