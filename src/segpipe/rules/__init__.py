"""The rule language (contract §4): pydantic model, checks and the SQL compiler. Pure: opens no connection.

Public interface (stable; other packages import only these names):
- `parse_rules(data, path="rules") -> Node`: validate a rule tree; raises InvalidInput with the JSON path.
- `segment_refs(node) -> set[str]`: the segment keys a rule tree references directly.
- `check_limits(node, path)`, `check_references(node, known_keys, path)`, `find_cycle(graph)`: whole-tree checks.
- `rules_to_json(node) -> dict`: the canonical JSON form of a parsed tree (what to store; parses back equal).
- `compile_members(node, as_of, resolve_segment, mode="set") -> sa.Select`: a SELECT of one column,
  `profile_id`, of the profiles matching `node` as of `as_of`.
- `compile_predicate(node, as_of, resolve_segment) -> ColumnElement[bool]`: the same rule as a two-valued
  predicate over `segpipe.db.schema.profiles` (correlated subqueries: for one or a few profiles).
"""

from __future__ import annotations

from typing import Any

from segpipe.rules.check import MAX_DEPTH, MAX_LEAVES, check_limits, check_references, find_cycle, segment_refs
from segpipe.rules.model import Node, RuleNode
from segpipe.rules.parse import parse_rules


def rules_to_json(node: RuleNode) -> dict[str, Any]:
    """The canonical JSON form of a parsed rule tree (defaults filled in, times as ISO-8601 text)."""
    return node.model_dump(mode="json", by_alias=True, exclude_none=True)


def __getattr__(name: str) -> Any:
    # The compiler imports SQLAlchemy and the schema; parsing does not need them.
    if name in {"compile_members", "compile_predicate", "Resolver"}:
        from segpipe.rules import compile as compiler

        return getattr(compiler, name)
    raise AttributeError(name)


__all__ = [
    "MAX_DEPTH",
    "MAX_LEAVES",
    "Node",
    "RuleNode",
    "check_limits",
    "check_references",
    "compile_members",
    "compile_predicate",
    "find_cycle",
    "parse_rules",
    "rules_to_json",
    "segment_refs",
]
