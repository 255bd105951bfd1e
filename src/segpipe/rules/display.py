"""Rules as people read them: keys in reading order (`attribute, op, value`), for `segment show` and the catalog."""

from __future__ import annotations

from typing import Any

_KEY_ORDER = ("all", "any", "not", "attribute", "event", "subscription", "segment", "where", "aggregate", "property")


def display_order(node: Any) -> Any:
    """Rule keys in reading order (`attribute, op, value`): jsonb keeps its own key order, not the author's."""
    if isinstance(node, list):
        return [display_order(item) for item in node]
    if not isinstance(node, dict):
        return node
    rank = {key: i for i, key in enumerate(_KEY_ORDER)}
    ordered = sorted(node, key=lambda key: (rank.get(key, len(rank)), key != "op", key != "value", key))
    return {key: display_order(node[key]) for key in ordered}
