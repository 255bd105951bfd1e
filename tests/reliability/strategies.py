"""Hypothesis strategies for hostile input: rule trees that mix valid and invalid nodes, values meant to break SQL."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

INJECTION = "'); DROP TABLE segpipe.profiles;--"
HOSTILE_TEXT = [
    INJECTION,
    '"; DELETE FROM segpipe.segments; --',
    "O'Brien",
    '"quoted"',
    "back\\slash",
    "nul\x00byte",
    "\x00",
    "",
    " ",
    "%_%",
    "ünïcödé ✓ 日本語 🚀",
    "\u202eRTL",
    "\ud7ff\ue000",
    "x" * 10_000,
    "$1",
    ":param",
    "%(x)s",
    "line\nbreak",
    "tab\there",
    "2026-13-45T00:00:00Z",
    "2026-03-01T00:00:00Z",
]
OPS = [
    "eq", "neq", "gt", "gte", "lt", "lte", "between", "in", "not_in", "contains", "starts_with", "ends_with",
    "exists", "not_exists", "before", "after", "within_last", "not_within_last",
]  # fmt: skip
HUGE_NUMBERS = [10**30, -(10**30), 2**63, -(2**63) - 1, 1e308, -1e308, 1e-320]

text = st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=40))
numbers = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(HUGE_NUMBERS),
)
scalars = st.one_of(text, numbers, st.booleans(), st.none())
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=4),
    st.dictionaries(st.sampled_from(["days", "hours", "minutes", "weeks", "x"]), numbers, max_size=2),
)


def _attribute() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"attribute": st.one_of(st.sampled_from(["country", "email", "created_at", "external_id"]), text)},
        optional={"op": st.one_of(st.sampled_from(OPS), text), "value": values},
    )


def _event() -> st.SearchStrategy[dict[str, Any]]:
    where = st.lists(st.fixed_dictionaries({"property": text, "op": st.sampled_from(OPS), "value": values}), max_size=2)
    return st.fixed_dictionaries(
        {"event": text},
        optional={
            "where": where,
            "within": values,
            "aggregate": st.one_of(st.sampled_from(["count", "sum", "avg", "min", "max"]), text),
            "property": text,
            "op": st.sampled_from(OPS),
            "value": values,
        },
    )


def _garbage() -> st.SearchStrategy[Any]:
    return st.one_of(
        scalars,
        st.dictionaries(text, values, max_size=3),
        st.fixed_dictionaries({"subscription": text, "status": text}),
        st.fixed_dictionaries({"segment": text}),
    )


leaves = st.one_of(
    _attribute(),
    _event(),
    st.fixed_dictionaries(
        {"subscription": st.sampled_from(["email", "sms", "push"]), "status": st.sampled_from(["subscribed", "x"])}
    ),
    _garbage(),
)
rule_trees = st.recursive(
    leaves,
    lambda kids: st.one_of(
        st.fixed_dictionaries({"all": st.lists(kids, max_size=4)}),
        st.fixed_dictionaries({"any": st.lists(kids, max_size=4)}),
        st.fixed_dictionaries({"not": kids}),
    ),
    max_leaves=12,
)


@st.composite
def deep_trees(draw: st.DrawFn) -> dict[str, Any]:
    """A leaf under 1-60 nested `not`/`all` nodes (the limit is 32 on a root-to-leaf path)."""
    node: Any = draw(leaves)
    for _ in range(draw(st.integers(min_value=1, max_value=60))):
        node = {"not": node} if draw(st.booleans()) else {"all": [node]}
    return node


keys = st.one_of(st.sampled_from(["fz-a", "fz-b", "fz_c"]), text)
segment_documents = st.fixed_dictionaries(
    {
        "kind": st.one_of(st.just("Segment"), text),
        "key": keys,
        "name": text,
        "rules": st.one_of(rule_trees, deep_trees()),
    },
    optional={"description": text, "guard": st.fixed_dictionaries({"max_drop": numbers}), "keep_active": values},
)
