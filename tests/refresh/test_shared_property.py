"""Property test: on random rule sets and random data, members compiled against the run's shared feature tables
equal the per-segment compilation (and the reference interpreter), through the real catalog / build / column
lookup: every event name shared (or the planner's own choice, multi-name scans included), in groups small enough
that one query joins several tables."""

from __future__ import annotations

import itertools
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segpipe.refresh import feature_tables, shared
from segpipe.rules import compile_members, parse_rules
from segpipe.store.runs import data_version
from tests.rules.reference import Data, Interpreter
from tests.rules.test_property import AS_OF, datasets, event_leaf, external_ids, load, plain_leaf, trees

_runs = itertools.count(900_000)
EVENT_HEAVY = st.one_of(event_leaf(), event_leaf(), plain_leaf)
RULE_SETS = st.lists(trees(EVENT_HEAVY, 4), min_size=1, max_size=5)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=datasets(), rule_sets=RULE_SETS, readers=st.sampled_from([1, 2]), columns=st.sampled_from([1, 2, 32]))
def test_shared_scans_give_the_per_segment_members(
    engine, data: Data, rule_sets: list[dict[str, Any]], readers: int, columns: int
) -> None:
    nodes = [parse_rules(rules) for rules in rule_sets]
    run_id = next(_runs)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            load(conn, data)
        try:
            groups = shared.plan_groups(nodes, min_consumers=readers, max_columns=columns)
            planned = {feature for group in groups for feature in group}
            with conn.begin():
                feature_tables.create_catalog(conn, run_id, groups)
            for node in nodes:
                feature_tables.ensure_built(conn, run_id, shared.segment_features(node), AS_OF)
            with conn.begin():
                version = data_version(conn)
                for rules, node in zip(rule_sets, nodes, strict=True):
                    mine = shared.segment_features(node)
                    built = feature_tables.shared_columns(conn, run_id, mine, version)
                    assert set(built) == mine & planned
                    expected = Interpreter(data, AS_OF).members(rules)
                    assert external_ids(conn, compile_members(node, AS_OF, None, shared=built)) == expected, rules
                    assert external_ids(conn, compile_members(node, AS_OF, None)) == expected, rules
        finally:
            with conn.begin():
                feature_tables.drop_run_tables(conn, run_id)


def test_feature_table_columns_are_the_rules_features(engine) -> None:
    """A query against shared tables reads them instead of `events` (one LEFT JOIN per table it needs)."""
    nodes = [parse_rules({"event": "x", "within": {"days": 1}}), parse_rules({"event": "x", "op": "eq", "value": 0})]
    groups = shared.plan_groups(nodes)
    assert [len(group) for group in groups] == [2]
    table = feature_tables.feature_table(1, 0, 7, enumerate(groups[0]))
    columns = {feature: table.c[f"f{pos}"] for pos, feature in enumerate(groups[0])}
    sql = str(compile_members(nodes[0], AS_OF, None, shared=columns).compile())
    assert "segpipe.events" not in sql and sql.count("LEFT OUTER JOIN segpipe.run_features_1_0_7") == 1
    with engine.connect() as conn:
        assert sa.inspect(conn).has_table("run_features_1_0_7", schema="segpipe") is False
