"""GX 1.x expectation suites built in code from `quality.checks`: one expectation per check.

Great Expectations takes about three seconds to import, so it is imported inside these functions only.
"""

from __future__ import annotations

from functools import singledispatch
from typing import Any

from segpipe.quality.checks import Check, ColumnMax, ColumnNotNull, ColumnUnique, NoRows, RowCount

CHECK_META_KEY = "segpipe_check"


def build_suite(name: str, checks: list[Check]) -> Any:
    """An ExpectationSuite (not yet added to a context) with one expectation per check."""
    import great_expectations as gx

    suite = gx.ExpectationSuite(name=name)
    for check in checks:
        suite.add_expectation(expectation_for(check))
    return suite


def _common(check: Check) -> dict[str, Any]:
    return {
        "meta": {CHECK_META_KEY: check.name},
        "description": check.description,
        "severity": "critical" if check.blocking else "warning",
        "catch_exceptions": True,
    }


@singledispatch
def expectation_for(check: Check) -> Any:
    raise TypeError(f"no expectation for {type(check).__name__}")


@expectation_for.register
def _row_count(check: RowCount) -> Any:
    import great_expectations.expectations as gxe

    if check.equals is not None:
        return gxe.ExpectTableRowCountToEqual(value=check.equals, **_common(check))
    return gxe.ExpectTableRowCountToBeBetween(min_value=check.min_value, max_value=check.max_value, **_common(check))


@expectation_for.register
def _unique(check: ColumnUnique) -> Any:
    import great_expectations.expectations as gxe

    return gxe.ExpectColumnValuesToBeUnique(column=check.column, **_common(check))


@expectation_for.register
def _not_null(check: ColumnNotNull) -> Any:
    import great_expectations.expectations as gxe

    return gxe.ExpectColumnValuesToNotBeNull(column=check.column, **_common(check))


@expectation_for.register
def _column_max(check: ColumnMax) -> Any:
    import great_expectations.expectations as gxe

    return gxe.ExpectColumnMaxToBeBetween(
        column=check.column, min_value=check.min_value, max_value=check.max_value, **_common(check)
    )


@expectation_for.register
def _no_rows(check: NoRows) -> Any:
    import great_expectations.expectations as gxe

    # The check's own query is the asset; {batch} stands for it (GX substitutes the asset's query).
    return gxe.UnexpectedRowsExpectation(unexpected_rows_query="SELECT * FROM {batch}", **_common(check))
