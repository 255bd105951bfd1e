"""Data-quality gates run by Great Expectations in Postgres (GX is imported lazily).

Reusable by any gate: build `Check`s over committed tables, `run_checks(settings_or_url, checks)` returns a
`QualityReport`, and `raise_for_failure(report, subject)` turns failed blocking checks into GateRefused (exit 3).
"""

from __future__ import annotations

from segpipe.quality.checks import Check, ColumnMax, ColumnNotNull, ColumnUnique, NoRows, RowCount
from segpipe.quality.report import CheckResult, QualityReport, raise_for_failure
from segpipe.quality.validate import run_checks, warm_up

__all__ = [
    "Check",
    "CheckResult",
    "ColumnMax",
    "ColumnNotNull",
    "ColumnUnique",
    "NoRows",
    "QualityReport",
    "RowCount",
    "raise_for_failure",
    "run_checks",
    "warm_up",
]
