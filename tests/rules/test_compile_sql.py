"""The compiled SQL as text plus bound parameters: values never reach the SQL text; the plan shapes are the
intended ones (grouped scans joined in set mode, correlated subqueries in point mode)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from segpipe.rules import compile_members, compile_predicate, parse_rules

AS_OF = datetime(2026, 3, 1, tzinfo=UTC)
DIALECT = postgresql.psycopg.dialect()


def compiled(query):
    result = query.compile(dialect=DIALECT)
    return " ".join(str(result).split()), result.params


def test_attribute_leaf_text_and_params():
    sql, params = compiled(
        compile_members(parse_rules({"attribute": "country", "op": "eq", "value": "DE"}), AS_OF, None)
    )
    assert sql == (
        "SELECT segpipe.profiles.id AS profile_id FROM segpipe.profiles "
        "WHERE coalesce((CASE WHEN (jsonb_typeof(segpipe.profiles.attributes -> %(param_1)s::VARCHAR) = 'string') "
        'THEN segpipe.profiles.attributes ->> %(param_2)s::VARCHAR END COLLATE "C") = %(param_3)s::VARCHAR, false)'
    )
    assert params == {"param_1": "country", "param_2": "country", "param_3": "DE"}


def test_number_leaf_binds_an_exact_decimal():
    _, params = compiled(compile_members(parse_rules({"attribute": "n", "op": "gt", "value": 0.1}), AS_OF, None))
    assert params["param_3"] == Decimal("0.1")


HOSTILE = {
    "all": [
        {"attribute": "x'); DROP TABLE t; --", "op": "eq", "value": "v'; DELETE FROM segpipe.profiles; --"},
        {"attribute": "email", "op": "contains", "value": "100%_sure"},
        {"attribute": "n", "op": "in", "value": [31337, 271828]},
        {"event": "ev\"il", "where": [{"property": "p\"q", "op": "starts_with", "value": "zz%"}], "within": {"days": 3},
         "aggregate": "sum", "property": "amo'unt", "op": "between", "value": [4242, 4343]},
        {"subscription": "sms", "status": "unsubscribed"},
        {"attribute": "t", "op": "before", "value": "2024-05-06T07:08:09Z"},
    ]
}  # fmt: skip
VALUES = ["x'); DROP TABLE t; --", "v'; DELETE FROM segpipe.profiles; --", "100%_sure", 'ev"il', 'p"q', "zz%",
          "amo'unt", "sms", "unsubscribed"]  # fmt: skip


def test_every_input_value_is_a_bound_parameter_in_both_modes():
    node = parse_rules(HOSTILE)
    for query in (compile_members(node, AS_OF, None, "set"), compile_members(node, AS_OF, None, "point")):
        sql, params = compiled(query)
        bound = set(map(str, params.values()))
        for value in VALUES:
            assert value not in sql
            assert value in bound
        for number in ("31337", "271828", "4242", "4343", "2024"):
            assert number not in sql
        assert Decimal(31337) in params.values() and Decimal(4242) in params.values()
        assert datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC) in params.values()
        assert AS_OF - timedelta(days=3) in params.values()


def test_set_mode_groups_events_once_per_name_and_window_and_joins():
    node = parse_rules(
        {
            "any": [
                {"event": "buy", "within": {"days": 30}, "op": "gte", "value": 3},
                {"not": {"event": "buy", "within": {"days": 30}, "aggregate": "max", "property": "amount"}},
                {"event": "buy", "op": "eq", "value": 0},
                {"subscription": "email", "status": "subscribed"},
            ]
        }
    )
    sql, _ = compiled(compile_members(node, AS_OF, None, "set"))
    assert sql.count("FROM segpipe.events") == 2
    assert sql.count("GROUP BY segpipe.events.profile_id") == 2
    assert sql.count("LEFT OUTER JOIN") == 3
    assert "segpipe.events.profile_id = segpipe.profiles.id" not in sql
    assert "DISTINCT ON (segpipe.subscriptions.profile_id)" in sql


def test_point_mode_correlates_on_the_profile():
    node = parse_rules({"all": [{"event": "buy"}, {"subscription": "email", "status": "subscribed"}]})
    sql, _ = compiled(compile_predicate(node, AS_OF, None))
    assert "segpipe.events.profile_id = segpipe.profiles.id" in sql
    assert "segpipe.subscriptions.profile_id = segpipe.profiles.id" in sql
    assert "JOIN" not in sql and "GROUP BY" not in sql


def test_segment_reference_joins_the_resolved_members():
    members = sa.table("memberships", sa.column("segment_id"), sa.column("profile_id"), schema="segpipe")

    def resolve(key):
        return sa.select(members.c.profile_id).where(members.c.segment_id == 7)

    sql, params = compiled(compile_members(parse_rules({"not": {"segment": "vip"}}), AS_OF, resolve))
    assert "LEFT OUTER JOIN (SELECT segpipe.memberships.profile_id" in sql
    assert sql.endswith("WHERE seg0.profile_id IS NULL")
    assert params == {"segment_id_1": 7}
