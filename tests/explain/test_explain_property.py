"""Property test: `explain` agrees with membership exactly. On random rule trees and small random data, the root
outcome is the reference interpreter's membership and every leaf's outcome is the reference's verdict on that
leaf (tests/rules/reference.py), for every profile; a referenced segment is explained by its own rules."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segpipe.db import schema as t
from segpipe.explain.evaluate import Explained, explain_rules
from segpipe.rules import parse_rules
from tests.rules.reference import Data, Interpreter
from tests.rules.test_property import AS_OF, datasets, load, plain_leaf, trees

RULES = trees(plain_leaf | st.just({"segment": "s1"}), 5)


def check(node: Explained, rule: dict[str, Any], judge: Interpreter, profile: Any, stored: dict[str, Any]) -> None:
    """Walk the explained tree beside the raw rule: every node's outcome is the reference's."""
    assert node.outcome == judge.matches(rule, profile), (node.path, rule)
    if "segment" in rule:
        assert node.kind == "segment" and node.segment == rule["segment"]
        check(node.children[0], stored, judge, profile, stored)
        return
    kids = rule.get("all") or rule.get("any") or ([rule["not"]] if "not" in rule else [])
    assert len(node.children) == len(kids), node.path
    for child, sub in zip(node.children, kids, strict=True):
        check(child, sub, judge, profile, stored)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=datasets(), rule=RULES, stored=trees(plain_leaf, 3))
def test_explain_agrees_with_the_reference(engine, data: Data, rule: dict[str, Any], stored: dict[str, Any]) -> None:
    judge = Interpreter(data, AS_OF, {"s1": stored})
    members = judge.members(rule)
    stored_node = parse_rules(stored)
    with engine.connect() as conn, conn.begin() as transaction:
        load(conn, data)
        for profile in data.profiles:
            explanation = explain_rules(
                conn, parse_rules(rule), profile.external_id, AS_OF, {"s1": stored_node}.__getitem__
            )
            assert explanation.member == (profile.external_id in members), rule
            check(explanation.tree, rule, judge, profile, stored)
        transaction.rollback()


def test_a_wide_tree_is_explained_in_several_queries_and_still_agrees(engine) -> None:
    """400 event leaves need ~1,200 columns: more than one query's worth (Postgres allows 1,664)."""
    from segpipe.explain import evaluate
    from segpipe.rules import compile_predicate
    from tests.rules.reference import EventRow, Profile

    data = Data([Profile(1, "p0", None, AS_OF), Profile(2, "p1", None, AS_OF)],
                [EventRow(1, "x", AS_OF, {"p": 2})], [])  # fmt: skip
    leaves = [{"event": "x", "aggregate": "sum", "property": "p", "op": "gte", "value": i % 4} for i in range(400)]
    rule = {"any": [{"all": leaves[:200]}, {"not": {"all": leaves[200:]}}]}
    assert evaluate.COLUMNS_PER_QUERY < 400 * 3
    node = parse_rules(rule)
    with engine.connect() as conn, conn.begin() as transaction:
        load(conn, data)
        for profile in data.profiles:
            explanation = explain_rules(conn, node, profile.external_id, AS_OF, {}.__getitem__)
            point = conn.execute(
                sa.select(compile_predicate(node, AS_OF, None)).where(t.profiles.c.external_id == profile.external_id)
            ).scalar_one()
            assert explanation.member == point == (profile.external_id in Interpreter(data, AS_OF).members(rule))
            judge = Interpreter(data, AS_OF)
            check(explanation.tree, rule, judge, profile, {})
        transaction.rollback()
