"""The segment dependency DAG: which segments a request needs, and in which order (dependencies first)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from graphlib import CycleError, TopologicalSorter

from segpipe.errors import InvalidInput

Graph = Mapping[str, set[str]]
"""Segment key → keys of the segments its rules reference directly."""


def with_dependencies(graph: Graph, keys: Iterable[str]) -> set[str]:
    """The keys plus everything they reference, transitively."""
    seen: set[str] = set()
    pending = list(keys)
    while pending:
        key = pending.pop()
        if key not in seen:
            seen.add(key)
            pending.extend(graph.get(key, ()))
    return seen


def dependents(graph: Graph) -> dict[str, set[str]]:
    """The reverse graph: key → keys of the segments that reference it directly."""
    reverse: dict[str, set[str]] = {key: set() for key in graph}
    for key, deps in graph.items():
        for dep in deps:
            reverse.setdefault(dep, set()).add(key)
    return reverse


def waves(graph: Graph, keys: Iterable[str]) -> list[list[str]]:
    """Topological waves over `keys` (which must contain their dependencies): each wave only needs earlier ones.

    Keys within a wave are sorted, so plans are deterministic. A reference cycle (refused by `apply`, but
    possible in a hand-edited database) raises InvalidInput naming it.
    """
    nodes = set(keys)
    sorter: TopologicalSorter[str] = TopologicalSorter({key: graph.get(key, set()) & nodes for key in nodes})
    try:
        sorter.prepare()
    except CycleError as exc:
        cycle = " -> ".join(exc.args[1])
        raise InvalidInput(f"segment reference cycle: {cycle}", where="segments") from None
    result: list[list[str]] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        result.append(ready)
        sorter.done(*ready)
    return result
