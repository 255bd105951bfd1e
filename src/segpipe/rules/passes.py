"""Rewrite passes over a parsed rule tree, applied in order before compiling; each keeps the meaning exactly
(the logic is two-valued, so these are plain boolean identities)."""

from __future__ import annotations

from collections.abc import Callable

from segpipe.rules.model import All, Any_, Not, RuleNode

Pass = Callable[[RuleNode], RuleNode]


def flatten(node: RuleNode) -> RuleNode:
    """`all` inside `all` (and `any` inside `any`) merge; a one-child `all`/`any` is its child."""
    if isinstance(node, All | Any_):
        kind = type(node)
        merged: list[RuleNode] = []
        for child in map(flatten, node.all if isinstance(node, All) else node.any):
            merged.extend(_items(child) if isinstance(child, kind) else [child])
        if len(merged) == 1:
            return merged[0]
        return All(all=merged) if kind is All else Any_(any=merged)
    if isinstance(node, Not):
        return Not(not_=flatten(node.not_))
    return node


def drop_double_negation(node: RuleNode) -> RuleNode:
    """`not: {not: x}` is `x`."""
    if isinstance(node, Not):
        inner = drop_double_negation(node.not_)
        return inner.not_ if isinstance(inner, Not) else Not(not_=inner)
    if isinstance(node, All):
        return All(all=[drop_double_negation(child) for child in node.all])
    if isinstance(node, Any_):
        return Any_(any=[drop_double_negation(child) for child in node.any])
    return node


def _items(node: All | Any_) -> list[RuleNode]:
    return list(node.all if isinstance(node, All) else node.any)


RULES: tuple[Pass, ...] = (drop_double_negation, flatten)


def optimize(node: RuleNode) -> RuleNode:
    for rewrite in RULES:
        node = rewrite(node)
    return node
