"""Data-quality checks as plain data: what to read (a query over committed tables) and what to expect of it.

A check knows nothing of Great Expectations; `quality.suites` turns each one into a GX expectation and
`quality.validate.run_checks` runs them in Postgres. Checks whose queries are equal share one GX query asset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

Query = sa.Select[Any] | str
"""A SELECT (SQLAlchemy Core, or SQL text starting with SELECT) over committed data."""


@dataclass(frozen=True, kw_only=True)
class Check:
    name: str
    """A stable code (`expected_count`), shown in reports and used by callers to find a result."""
    query: Query
    description: str
    blocking: bool = True
    """A failed blocking check refuses the operation; a failed non-blocking one is a warning."""

    def expectation_text(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class RowCount(Check):
    """The query returns exactly `equals` rows, or between `min_value` and `max_value` (inclusive)."""

    equals: int | None = None
    min_value: int | None = None
    max_value: int | None = None

    def expectation_text(self) -> str:
        return f"= {self.equals} rows" if self.equals is not None else _range_text(self.min_value, self.max_value)


@dataclass(frozen=True, kw_only=True)
class ColumnUnique(Check):
    column: str

    def expectation_text(self) -> str:
        return f"{self.column} unique"


@dataclass(frozen=True, kw_only=True)
class ColumnNotNull(Check):
    column: str

    def expectation_text(self) -> str:
        return f"{self.column} not null"


@dataclass(frozen=True, kw_only=True)
class ColumnMax(Check):
    """The largest value of `column` lies within bounds: for one-row aggregate queries (a share, a ratio)."""

    column: str
    min_value: float | None = None
    max_value: float | None = None

    def expectation_text(self) -> str:
        return f"{self.column} {_range_text(self.min_value, self.max_value)}"


@dataclass(frozen=True, kw_only=True)
class NoRows(Check):
    """The query selects offending rows; the check passes when it selects none."""

    def expectation_text(self) -> str:
        return "no rows"


def _range_text(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"between {low} and {high}"
    if low is not None:
        return f">= {low}"
    return f"<= {high}" if high is not None else "any"


def query_sql(query: Query) -> str:
    """SQL text for a GX query asset.

    GX query assets take SQL text, not statements with parameters, so Core queries are rendered with their
    values inlined by the Postgres dialect's literal renderer (quoting and escaping are the dialect's). Callers
    build them from `segpipe.db.schema` with internal values only (job ids, segment ids, run ids); values a
    user typed (an expected count, a share) go into the expectation, never into the SQL.
    """
    if isinstance(query, str):
        text = query.strip()
    else:
        text = str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    if text[:6].upper() != "SELECT":
        raise ValueError("a check query must be a SELECT (GX query assets start with SELECT)")
    if "%" in text:
        # GX runs the text through SQLAlchemy with the driver's pyformat style: a `%` arrives doubled.
        raise ValueError("a check query cannot contain '%' (use mod(), or compare with a bound value)")
    return text
