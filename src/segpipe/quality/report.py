"""The outcome of a set of checks: plain data, JSON-ready, with no Great Expectations types in it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from segpipe.errors import GateRefused


@dataclass(frozen=True)
class CheckResult:
    name: str
    description: str
    blocking: bool
    success: bool
    expected: str
    observed: Any = None
    """What GX measured: a count, a value, or the number of offending rows."""
    error: str | None = None
    """Why the check could not run (a failed blocking check either way)."""


@dataclass(frozen=True)
class QualityReport:
    checks: tuple[CheckResult, ...] = field(default_factory=tuple)
    engine: str = "great_expectations"

    @property
    def success(self) -> bool:
        """True when every blocking check passed (warnings do not count)."""
        return not self.failed

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if c.blocking and not c.success]

    @property
    def warnings(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.blocking and not c.success]

    def result(self, name: str) -> CheckResult:
        return next(c for c in self.checks if c.name == name)

    def to_json(self) -> dict[str, Any]:
        return {"success": self.success, "engine": self.engine, "checks": [asdict(c) for c in self.checks]}


def describe_failure(check: CheckResult) -> str:
    if check.error:
        return f"{check.name}: could not run ({check.error})"
    return f"{check.name}: {check.description} (expected {check.expected}, observed {check.observed})"


def raise_for_failure(report: QualityReport, subject: str, gate: str = "quality") -> None:
    """Raise GateRefused (exit 3) naming every failed blocking check; `details` carries the whole report."""
    if report.success:
        return
    failures = "; ".join(describe_failure(c) for c in report.failed)
    raise GateRefused(gate, f"{subject}: data-quality gate refused: {failures}", details=report.to_json())
