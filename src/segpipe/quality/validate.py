"""Run checks with Great Expectations against Postgres: each distinct query becomes a GX query asset.

GX computes every metric in the database (counts, GROUP BY for uniqueness, the offending-row queries) over
its own connection, so it sees committed data only: commit what the checks read before calling `run_checks`.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Engine

from segpipe.config import Settings
from segpipe.db.engine import normalize_url, resolve_url
from segpipe.quality.checks import Check, query_sql
from segpipe.quality.report import CheckResult, QualityReport
from segpipe.quality.suites import CHECK_META_KEY, build_suite

# The URL reaches GX as a config variable: PostgresDsn validation rejects unix-socket URLs (`?host=/path`)
# that SQLAlchemy accepts, and the password stays out of GX's datasource config.
_URL_VARIABLE = "segpipe_database_url"


def warm_up() -> None:
    """Start importing Great Expectations (about 3 s) in a background thread, so that the import overlaps the
    database work that comes before a gate; `run_checks` then waits for it through Python's import lock.
    Call it once the caller's own imports are done."""
    threading.Thread(target=importlib.import_module, args=("great_expectations",), daemon=True).start()


def database_url(target: Settings | Engine | str) -> str:
    if isinstance(target, Settings):
        return resolve_url(target)
    if isinstance(target, Engine):
        return target.url.render_as_string(hide_password=False)
    return normalize_url(target)


def run_checks(target: Settings | Engine | str, checks: Sequence[Check], *, name: str = "checks") -> QualityReport:
    """Validate every check in Postgres with GX 1.x (ephemeral context); one result per check, in order."""
    if not checks:
        return QualityReport(())
    context = _ephemeral_context(database_url(target))
    datasource = context.data_sources.add_postgres("segpipe", connection_string="${" + _URL_VARIABLE + "}")
    observed: dict[str, Any] = {}
    try:
        for index, (sql, group) in enumerate(_by_query(checks).items()):
            observed.update(_validate_group(context, datasource, f"{name}-{index}", sql, group))
    finally:
        datasource.get_engine().dispose()
    return QualityReport(tuple(_check_result(check, observed.get(check.name)) for check in checks))


def _ephemeral_context(url: str) -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config, runtime_environment={_URL_VARIABLE: url})


def _by_query(checks: Sequence[Check]) -> dict[str, list[Check]]:
    groups: dict[str, list[Check]] = {}
    for check in checks:
        groups.setdefault(query_sql(check.query), []).append(check)
    return groups


def _validate_group(context: Any, datasource: Any, name: str, sql: str, checks: list[Check]) -> dict[str, Any]:
    """Run one suite over one query asset; returns check name → GX expectation result."""
    import great_expectations as gx

    asset = datasource.add_query_asset(name, query=sql)
    batch = asset.add_batch_definition_whole_table("all")
    suite = context.suites.add(build_suite(name, checks))
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
    outcome = definition.run(result_format="BASIC")
    return {str((r.expectation_config.meta or {}).get(CHECK_META_KEY)): r for r in outcome.results}


def _check_result(check: Check, result: Any) -> CheckResult:
    common: dict[str, Any] = {"name": check.name, "description": check.description, "blocking": check.blocking}
    expected = check.expectation_text()
    if result is None:
        return CheckResult(**common, success=False, expected=expected, error="no result from Great Expectations")
    error = _error_of(result)
    return CheckResult(
        **common,
        success=bool(result.success) and error is None,
        expected=expected,
        observed=_observed(result),
        error=error,
    )


def _observed(result: Any) -> Any:
    details = dict(result.result or {})
    if "observed_value" in details:
        return _plain(details["observed_value"])
    if "unexpected_count" in details:
        return {"unexpected": details["unexpected_count"], "rows": details.get("element_count")}
    return None


def _plain(value: Any) -> Any:
    """A JSON-ready observed value (reports are stored as jsonb)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return str(value)


def _error_of(result: Any) -> str | None:
    info = result.exception_info or {}
    candidates = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    for item in candidates:
        if item.get("raised_exception"):
            message = str(item.get("exception_message") or "error").strip().splitlines()
            return message[0] if message else "error"
    return None
