from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from segpipe.errors import InvalidInput
from segpipe.refresh.graph import dependents, waves, with_dependencies
from segpipe.refresh.stale import DependencyState, stale_reason
from segpipe.store.segments import SegmentRow

GRAPH = {"a": set(), "b": {"a"}, "c": {"a", "b"}, "d": set(), "e": {"d"}}
T = datetime(2026, 3, 1, tzinfo=UTC)


def test_with_dependencies_is_transitive():
    assert with_dependencies(GRAPH, ["c"]) == {"a", "b", "c"}
    assert with_dependencies(GRAPH, ["e", "b"]) == {"a", "b", "d", "e"}
    assert with_dependencies(GRAPH, []) == set()


def test_waves_put_dependencies_first_and_sort_within_a_wave():
    assert waves(GRAPH, GRAPH.keys()) == [["a", "d"], ["b", "e"], ["c"]]
    assert waves(GRAPH, {"a", "b"}) == [["a"], ["b"]]


def test_dependents_reverse_the_graph():
    assert dependents(GRAPH) == {"a": {"b", "c"}, "b": {"c"}, "c": set(), "d": {"e"}, "e": set()}


def test_a_cycle_is_invalid_input_naming_it():
    with pytest.raises(InvalidInput, match=r"segment reference cycle: .*x.*y"):
        waves({"x": {"y"}, "y": {"x"}}, ["x", "y"])


def _segment(**changes) -> SegmentRow:
    base = SegmentRow(
        id=1, key="s", name="S", description=None, rules={}, status="active", archived=False,
        created_at=T, updated_at=T, definition_changed_at=T, last_live_use_at=None, status_changed_at=T,
        status_reason=None, member_count=3, last_refreshed_at=T + timedelta(hours=1), last_refresh_as_of=T,
        refreshed_data_version=7, activate_at=None, deactivate_at=None,
    )  # fmt: skip
    return replace(base, **changes)


@pytest.mark.parametrize(
    ("changes", "as_of", "version", "deps", "expected"),
    [
        ({}, T, 7, [], None),
        ({"last_refreshed_at": None, "last_refresh_as_of": None}, T, 7, [], "never refreshed"),
        ({}, T + timedelta(seconds=1), 7, [], "as_of changed"),
        ({"definition_changed_at": T + timedelta(hours=2)}, T, 7, [], "definition changed"),
        ({}, T, 8, [], "data changed"),
        ({}, T, 7, [DependencyState("d", T)], None),
        ({}, T, 7, [DependencyState("d", T + timedelta(hours=2))], "dependency d refreshed"),
        ({}, T, 7, [DependencyState("d", None)], "dependency d refreshed"),
    ],
)
def test_stale_reason(changes, as_of, version, deps, expected):
    assert stale_reason(_segment(**changes), as_of, version, deps) == expected
