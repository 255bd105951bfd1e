"""Whole-tree checks: size limits, segment references and reference cycles (contract §4)."""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Iterator, Mapping

from segpipe.errors import InvalidInput
from segpipe.rules.model import All, Any_, Not, RuleNode, SegmentRef

MAX_DEPTH = 32
MAX_LEAVES = 500


def children(node: RuleNode) -> list[tuple[str, RuleNode]]:
    """The direct sub-nodes of `node`, each with its JSON-path suffix."""
    if isinstance(node, All):
        return [(f".all[{i}]", child) for i, child in enumerate(node.all)]
    if isinstance(node, Any_):
        return [(f".any[{i}]", child) for i, child in enumerate(node.any)]
    if isinstance(node, Not):
        return [(".not", node.not_)]
    return []


def walk(node: RuleNode, path: str = "rules") -> Iterator[tuple[RuleNode, str, int]]:
    """Every node of the tree, depth first, as (node, JSON path, depth counted in nodes from 1)."""
    stack: list[tuple[RuleNode, str, int]] = [(node, path, 1)]
    while stack:
        current, where, depth = stack.pop()
        yield current, where, depth
        stack.extend((child, where + suffix, depth + 1) for suffix, child in reversed(children(current)))


def check_limits(node: RuleNode, path: str = "rules") -> None:
    """Refuse more than 32 nodes on a root-to-leaf path or more than 500 leaves."""
    leaves = 0
    for current, where, depth in walk(node, path):
        if depth > MAX_DEPTH:
            raise InvalidInput(f"more than {MAX_DEPTH} nodes on a root-to-leaf path", where=where)
        leaves += not children(current)
    if leaves > MAX_LEAVES:
        raise InvalidInput(f"more than {MAX_LEAVES} leaves ({leaves})", where=path)


def segment_refs(node: RuleNode) -> set[str]:
    """The segment keys `node` references directly (`{segment: KEY}` leaves)."""
    return {current.segment for current, _, _ in walk(node) if isinstance(current, SegmentRef)}


def check_references(node: RuleNode, known: Iterable[str], path: str = "rules") -> None:
    """Refuse a `{segment: KEY}` leaf whose KEY is not in `known`, at its JSON path."""
    keys = set(known)
    for current, where, _ in walk(node, path):
        if isinstance(current, SegmentRef) and current.segment not in keys:
            raise InvalidInput(f"unknown segment '{current.segment}'", where=f"{where}.segment")


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A reference cycle in `graph` (key → keys it references) as `[a, b, ..., a]`, or None.

    >>> find_cycle({"a": {"b"}, "b": {"a"}})
    ['a', 'b', 'a']
    """
    try:
        graphlib.TopologicalSorter({key: set(deps) for key, deps in graph.items()}).prepare()
    except graphlib.CycleError as exc:
        cycle = list(exc.args[1])
        return list(reversed(cycle))
    return None
