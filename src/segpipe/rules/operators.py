"""Attribute comparisons (contract §4) as two-valued SQL: every expression here is TRUE or FALSE, never NULL.

An operand is what a comparison reads: a key of a jsonb object (profile `attributes`, event `properties`), a
text column (`external_id`, `email`) or the time column `created_at`. `typed(kind)` is the operand as a value
of that kind, or SQL NULL when it is missing or of another kind; a comparison on NULL is NULL and `_truth`
turns that into FALSE. That single rule gives "missing or wrong type → false", `neq` and `not_in` included.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, TSTZRANGE
from sqlalchemy.sql.elements import ColumnElement

from segpipe.db.schema import TS
from segpipe.rules.model import INSTANT_OPS, LIST_OPS, PRESENCE_OPS, TEXT_OPS, WINDOW_OPS, Duration

Expr = ColumnElement[Any]
Bool = ColumnElement[bool]
_SQL_TYPES: dict[str, sa.types.TypeEngine[Any]] = {"number": sa.Numeric(), "string": sa.Text(), "boolean": sa.Boolean()}
_COMPARATORS = {
    "eq": lambda a, b: a == b,
    "neq": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


def truth(expr: Bool) -> Bool:
    """NULL → FALSE: the two-valued logic that makes `not` the exact complement."""
    return sa.func.coalesce(expr, sa.false())


def strict_time(text: Expr) -> Expr:
    """`segpipe.rule_time(text)` from sql/0003_rules.sql: the time a string denotes, or NULL (never raises)."""
    return sa.func.segpipe.rule_time(text, type_=TS)


def value_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, datetime):
        return "time"
    return "string" if isinstance(value, str) else "number"


def bind(value: Any) -> Expr:
    """A bound parameter: numbers as exact decimals (jsonb numbers are numeric), times as timestamptz."""
    kind = value_kind(value)
    if kind == "number":
        return sa.literal(Decimal(repr(value)) if isinstance(value, float) else Decimal(value), sa.Numeric())
    return sa.literal(value, TS if kind == "time" else _SQL_TYPES[kind])


class Operand:
    def typed(self, kind: str) -> Expr | None:
        """The operand as a `kind` value (NULL when missing or of another kind); None when it never is one."""
        raise NotImplementedError

    def present(self) -> Bool:
        raise NotImplementedError

    def time(self) -> Expr:
        """The operand as a time (NULL when it is not one)."""
        raise NotImplementedError


@dataclass(frozen=True)
class JsonKey(Operand):
    """A key of a jsonb object; the key itself is a bound parameter."""

    container: Expr
    key: str

    def _value(self) -> Expr:
        return self.container.op("->", return_type=JSONB)(sa.literal(self.key, sa.Text()))

    def _text(self) -> Expr:
        return self.container.op("->>", return_type=sa.Text())(sa.literal(self.key, sa.Text()))

    def _is(self, json_type: str) -> Bool:
        return sa.func.jsonb_typeof(self._value()) == sa.literal_column(f"'{json_type}'")

    def typed(self, kind: str) -> Expr | None:
        if kind == "time":
            return self.time()
        json_value = self._text() if kind == "string" else sa.cast(self._value(), _SQL_TYPES[kind])
        return sa.case((self._is(kind), json_value))

    def present(self) -> Bool:
        return truth(sa.func.jsonb_typeof(self._value()) != sa.literal_column("'null'"))

    def time(self) -> Expr:
        return strict_time(self._text())


@dataclass(frozen=True)
class TextColumn(Operand):
    """`external_id` / `email`: a string attribute, missing when NULL."""

    column: Expr

    def typed(self, kind: str) -> Expr | None:
        return self.column if kind == "string" else None

    def present(self) -> Bool:
        return self.column.is_not(None)

    def time(self) -> Expr:
        return strict_time(self.column)


@dataclass(frozen=True)
class TimeColumn(Operand):
    """`created_at`: a real time; the model only lets time values reach it."""

    column: Expr

    def typed(self, kind: str) -> Expr | None:
        return self.column if kind == "time" else None

    def present(self) -> Bool:
        return self.column.is_not(None)

    def time(self) -> Expr:
        return self.column


def compare(operand: Operand, op: str, value: Any, as_of: datetime) -> Bool:
    """`operand op value` under the rule semantics, as a never-NULL boolean."""
    if op in PRESENCE_OPS:
        return operand.present() if op == "exists" else sa.not_(operand.present())
    if op in WINDOW_OPS or op in INSTANT_OPS:
        return _time_test(operand.time(), op, value, as_of)
    if op in TEXT_OPS:
        return _text_test(operand.typed("string"), op, value)
    if op in LIST_OPS:
        return _list_test(operand, op, value)
    first = value[0] if isinstance(value, tuple) else value
    typed = _typed(operand, value_kind(first))
    if typed is None:
        return sa.false()
    if op == "between":
        return truth(typed.between(bind(value[0]), bind(value[1])))
    return truth(_COMPARATORS[op](typed, bind(value)))


def _typed(operand: Operand, kind: str) -> Expr | None:
    typed = operand.typed(kind)
    return typed.collate("C") if typed is not None and kind == "string" else typed


def _list_test(operand: Operand, op: str, values: tuple[Any, ...]) -> Bool:
    """`in`/`not_in`: each item compares with its own type, so a list may mix types. `not_in` holds for a value
    of one of the list's types equal to none of that type's items (another type or missing: false)."""
    by_kind: dict[str, list[Any]] = {}
    for item in values:
        by_kind.setdefault(value_kind(item), []).append(item)
    tests = []
    for kind, items in by_kind.items():
        typed = _typed(operand, kind)
        if typed is not None:
            bound = [bind(item) for item in items]
            tests.append(truth(typed.in_(bound) if op == "in" else typed.not_in(bound)))
    return sa.or_(*tests) if tests else sa.false()


def _time_test(time: Expr, op: str, value: Any, as_of: datetime) -> Bool:
    if op == "before":
        return truth(time < bind(value))
    if op == "after":
        return truth(time > bind(value))
    low = window_start(as_of, value)
    if op == "not_within_last":
        return truth(time <= bind(low)) if low is not None else sa.false()
    if low is None:
        return truth(time <= bind(as_of))
    # One range test, so the time (often parsed from text) is computed once per row.
    window = sa.func.tstzrange(bind(low), bind(as_of), sa.literal_column("'(]'"), type_=TSTZRANGE)
    return truth(window.contains(time))


def window_start(as_of: datetime, duration: Duration) -> datetime | None:
    """`as_of − duration`, or None when that is before the first representable instant (no lower bound)."""
    try:
        return as_of - duration.delta()
    except OverflowError:
        return None


def _text_test(text: Expr | None, op: str, value: str) -> Bool:
    if text is None:
        return sa.false()
    needle = bind(value)
    if op == "contains":
        return truth(sa.func.strpos(text, needle) > 0)
    width = sa.literal(len(value), sa.Integer())
    edge = sa.func.left(text, width) if op == "starts_with" else sa.func.right(text, width)
    return truth(edge == needle)
