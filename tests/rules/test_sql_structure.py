"""The SQL a rule compiles to does not depend on the user's text (issue 16.4): every rule shape, compiled with
benign values and with hostile ones (quotes, `'); DROP TABLE …;--`, NUL, unicode, 10k-character strings, huge
numbers) in both modes, gives the same SQL text; only the bound parameters differ. So no input — names of
attributes, properties and events included — is ever spliced into SQL.

The only identifiers a rule chooses are closed sets from the schema (`email`, `external_id`, `created_at` name
profile columns; channels and aggregates are enums); those shapes are compiled separately.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql

from segpipe.rules import compile_members, parse_rules

AS_OF = datetime(2026, 3, 1, tzinfo=UTC)
DIALECT = postgresql.psycopg.dialect()
COLUMN_NAMES = {"email", "external_id", "created_at"}
HOSTILE_TEXT = [
    "'); DROP TABLE segpipe.profiles;--",
    '"; DELETE FROM segpipe.events; --',
    "a\x00b",
    "\\' OR 1=1 --",
    "ünï©ødé 𝔘 🚀 ‮",
    "x" * 10_000,
    "%(param_1)s",
    "$1::text",
    ":name",
]
HOSTILE_NUMBERS = [10**30, -(10**30), 1.7976931348623157e308, 5e-324, 0, -1]

Shape = Callable[[str, str, str, float], dict[str, Any]]
"""(name, second name, text value, number) → a rule document."""

SHAPES: dict[str, Shape] = {
    "attribute eq text": lambda n, m, s, x: {"attribute": n, "op": "eq", "value": s},
    "attribute neq number": lambda n, m, s, x: {"attribute": n, "op": "neq", "value": x},
    "attribute gt number": lambda n, m, s, x: {"attribute": n, "op": "gt", "value": x},
    "attribute lte text": lambda n, m, s, x: {"attribute": n, "op": "lte", "value": s},
    "attribute between": lambda n, m, s, x: {"attribute": n, "op": "between", "value": [x, x]},
    "attribute in": lambda n, m, s, x: {"attribute": n, "op": "in", "value": [s, x, True]},
    "attribute not_in": lambda n, m, s, x: {"attribute": n, "op": "not_in", "value": [s, s]},
    "attribute contains": lambda n, m, s, x: {"attribute": n, "op": "contains", "value": s},
    "attribute starts_with": lambda n, m, s, x: {"attribute": n, "op": "starts_with", "value": s},
    "attribute ends_with": lambda n, m, s, x: {"attribute": n, "op": "ends_with", "value": s},
    "attribute exists": lambda n, m, s, x: {"attribute": n, "op": "exists"},
    "attribute before": lambda n, m, s, x: {"attribute": n, "op": "before", "value": "2026-01-01T00:00:00Z"},
    "attribute within_last": lambda n, m, s, x: {"attribute": n, "op": "within_last", "value": {"days": 3}},
    "event count": lambda n, m, s, x: {"event": n, "op": "gte", "value": x, "within": {"days": 30}},
    "event sum where": lambda n, m, s, x: {
        "event": n,
        "aggregate": "sum",
        "property": m,
        "op": "between",
        "value": [x, x],
        "where": [{"property": m, "op": "eq", "value": s}, {"property": n, "op": "contains", "value": s}],
    },
    "event never": lambda n, m, s, x: {"not": {"event": n}},
    "tree": lambda n, m, s, x: {
        "all": [
            {"any": [{"attribute": n, "op": "eq", "value": s}, {"attribute": m, "op": "lt", "value": x}]},
            {"not": {"event": m, "aggregate": "max", "property": n, "op": "gt", "value": x}},
            {"subscription": "email", "status": "subscribed"},
            {"not": {"segment": "vip"}},
        ]
    },
}


def _resolve(key: str) -> sa.Select[Any]:
    members = sa.table("memberships", sa.column("segment_id"), sa.column("profile_id"), schema="segpipe")
    return sa.select(members.c.profile_id).where(members.c.segment_id == sa.bindparam("segment", 7))


def _sql(document: dict[str, Any], mode: str) -> tuple[str, list[Any]]:
    query = compile_members(parse_rules(document), AS_OF, _resolve, mode)  # type: ignore[arg-type]
    compiled = query.compile(dialect=DIALECT)
    return str(compiled), list(compiled.params.values())


MODES = ("set", "point")
BASELINE = {(name, mode): _sql(shape("a", "b", "c", 1), mode) for name, shape in SHAPES.items() for mode in MODES}

names = st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(min_size=1, max_size=40)).filter(
    lambda s: s not in COLUMN_NAMES
)
texts = st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=40))
numbers = st.one_of(st.sampled_from(HOSTILE_NUMBERS), st.integers(), st.floats(allow_nan=False, allow_infinity=False))


@settings(max_examples=150, deadline=None)
@given(shape=st.sampled_from(sorted(SHAPES)), name=names, other=names, text=texts, number=numbers)
def test_sql_text_is_identical_whatever_the_input(shape: str, name: str, other: str, text: str, number: float):
    document = SHAPES[shape](name, other, text, number)
    for mode in ("set", "point"):
        sql, params = _sql(document, mode)
        assert sql == BASELINE[shape, mode][0], f"{shape} ({mode}) changed its SQL for {document!r}"
        assert len(params) == len(BASELINE[shape, mode][1])


def test_every_hostile_value_is_bound_never_spliced():
    for hostile in HOSTILE_TEXT:
        for name, shape in SHAPES.items():
            for mode in ("set", "point"):
                sql, params = _sql(shape(hostile, hostile + "2", hostile, 10**30), mode)
                assert sql == BASELINE[name, mode][0]
                assert hostile not in sql or hostile in BASELINE[name, mode][0]
                if "event" in name or "attribute" in name:
                    assert any(hostile in str(p) for p in params), (name, mode)


def test_profile_columns_are_the_only_names_that_change_the_sql():
    """`email`, `external_id` and `created_at` read columns of profiles (a closed set from the schema)."""
    for column in sorted(COLUMN_NAMES):
        sql, _ = _sql({"attribute": column, "op": "exists"}, "set")
        assert f"segpipe.profiles.{column}" in sql
        assert sql != BASELINE["attribute exists", "set"][0]
