"""A segment's rules as a readable tree (`all of` → `country = "DE"`, `member of segment churned`) for its page.

The stored rules are already valid (apply refused anything else), so this only words them; it never evaluates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

OPERATORS = {
    "eq": "=",
    "neq": "≠",
    "gt": ">",
    "gte": "≥",
    "lt": "<",
    "lte": "≤",
    "in": "in",
    "not_in": "not in",
    "contains": "contains",
    "starts_with": "starts with",
    "ends_with": "ends with",
    "before": "before",
    "after": "after",
}


@dataclass(frozen=True)
class RuleNode:
    text: str
    segment: str | None = None
    """The key of the segment a `segment` leaf refers to (the page links it)."""
    children: tuple[RuleNode, ...] = field(default_factory=tuple)


def rule_tree(node: dict[str, Any]) -> RuleNode:
    if "all" in node or "any" in node:
        word = "all" if "all" in node else "any"
        return RuleNode(f"{word} of", children=tuple(rule_tree(child) for child in node[word]))
    if "not" in node:
        return RuleNode("not", children=(rule_tree(node["not"]),))
    if "segment" in node:
        return RuleNode("member of segment", segment=str(node["segment"]))
    if "subscription" in node:
        return RuleNode(f"{node['subscription']} subscription is {node.get('status', 'subscribed')}")
    if "event" in node:
        return RuleNode(_event_text(node))
    return RuleNode(f"{node.get('attribute')} {comparison(node.get('op', 'eq'), node.get('value'))}")


def comparison(op: str, value: Any) -> str:
    """`≥ 500`, `between 100 and 1000`, `within the last 14 days`, `exists`."""
    if op in ("exists", "not_exists"):
        return "exists" if op == "exists" else "does not exist"
    if op == "between" and isinstance(value, list) and len(value) == 2:
        return f"between {_value(value[0])} and {_value(value[1])}"
    if op in ("within_last", "not_within_last"):
        prefix = "within" if op == "within_last" else "not within"
        return f"{prefix} the last {duration(value)}"
    return f"{OPERATORS.get(op, op)} {_value(value)}"


def duration(value: Any) -> str:
    if not isinstance(value, dict):
        return _value(value)
    return ", ".join(f"{amount} {unit}" for unit, amount in value.items())


def _event_text(node: dict[str, Any]) -> str:
    aggregate = node.get("aggregate", "count")
    subject = f"count of {node['event']} events" if aggregate == "count" else f"{aggregate} of {node.get('property')}"
    if aggregate != "count":
        subject += f" over {node['event']} events"
    where = node.get("where") or []
    if where:
        subject += " where " + " and ".join(
            f"{w.get('property')} {comparison(w.get('op', 'eq'), w.get('value'))}" for w in where
        )
    if node.get("within"):
        subject += f" in the last {duration(node['within'])}"
    if "op" not in node and aggregate == "count":
        return subject + " ≥ 1 (performed)"
    return f"{subject} {comparison(node.get('op', 'gte'), node.get('value', 1))}"


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)
