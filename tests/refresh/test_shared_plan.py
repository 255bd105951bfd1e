"""The shared-scan planner (pure): which features a run computes once, in which groups."""

from __future__ import annotations

from segpipe.refresh.shared import plan_groups, segment_features
from segpipe.rules import parse_rules


def nodes(*rules):
    return [parse_rules(rule) for rule in rules]


def event(name, days=None, **extra):
    rule = {"event": name, **extra}
    if days is not None:
        rule["within"] = {"days": days}
    return rule


def shape(groups):
    return [[(f.event, f.within.days if f.within else None, f.aggregate) for f in group] for group in groups]


def test_a_name_read_by_two_segments_gets_one_scan_widest_window_first():
    groups = plan_groups(
        nodes(
            event("purchase", 30),
            {"all": [event("purchase", 7), event("purchase", 365, aggregate="sum", property="amount", op="gt",
                                                 value=5)]},
            {"not": event("login", 3)},
        )
    )  # fmt: skip
    assert shape(groups) == [[("purchase", 365, "sum"), ("purchase", 30, "count"), ("purchase", 7, "count")]]


def test_equal_leaves_are_one_feature_and_one_reader_per_segment():
    same = event("login", 7, op="gte", value=3)
    assert plan_groups(nodes({"any": [same, event("login", 7)]})) == []
    assert shape(plan_groups(nodes(same, event("login", 7)))) == [[("login", 7, "count")]]


def test_unwindowed_features_of_single_reader_names_share_one_scan_across_names():
    groups = plan_groups(nodes(event("refund"), event("review"), event("share", 30), {"not": event("signup")}))
    assert shape(groups) == [[("refund", None, "count"), ("review", None, "count"), ("signup", None, "count")]]
    assert plan_groups(nodes(event("refund"), event("share", 30))) == []


def test_groups_are_split_at_max_columns():
    rules = [event("view", days) for days in range(1, 6)]
    groups = plan_groups(nodes(*rules), max_columns=2)
    assert shape(groups) == [[("view", 5, "count"), ("view", 4, "count")], [("view", 3, "count"), ("view", 2, "count")],
                             [("view", 1, "count")]]  # fmt: skip


def test_segment_features_are_its_own_leaves_only():
    node = parse_rules({"all": [{"segment": "other"}, event("x", 1), {"not": event("y")}]})
    assert {f.event for f in segment_features(node)} == {"x", "y"}
