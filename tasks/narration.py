"""How runs narrate: one line per step through Prefect's run logger, numbers written for people, and expected
refusals as one line without a traceback (docs/orchestration.md, "Logs").

Prefect logs every task or flow failure with its traceback. A refusal segpipe raises on purpose (GateRefused,
NotFound, InvalidInput, …: `segpipe.errors.SegpipeError` except the database faults, but including
PrivilegeDbError, Postgres's permission gate) is not a bug, so a filter on
Prefect's run loggers drops the traceback of those records; unexpected errors keep theirs. Flows also end such a
run with `end_refused`: a Failed state whose message is the refusal's one line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger
from prefect.states import Failed, State

from segpipe.errors import DbError, PrivilegeDbError, SegpipeError
from segpipe.humanize import count, duration, plain, words

__all__ = ["count", "duration", "end_refused", "install_filter", "is_expected", "log", "plain", "words"]

T = TypeVar("T")
RUN_LOGGERS = ("prefect.task_runs", "prefect.flow_runs")
_fallback = logging.getLogger("segpipe.runs")


def is_expected(exc: BaseException) -> bool:
    """A refusal segpipe raises on purpose, or Postgres refusing the role a privilege (a permission gate): one
    line, no traceback. Other database faults are not expected."""
    return isinstance(exc, PrivilegeDbError) or (isinstance(exc, SegpipeError) and not isinstance(exc, DbError))


class RefusalsWithoutTraceback(logging.Filter):
    """Keeps every record; drops the traceback of those about an expected refusal."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and is_expected(exc):
            record.exc_info, record.exc_text = None, None
        return True


def install_filter() -> None:
    """Idempotent: one filter per Prefect run logger."""
    for name in RUN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RefusalsWithoutTraceback) for f in logger.filters):
            logger.addFilter(RefusalsWithoutTraceback())


install_filter()


def log() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """The current flow or task run's logger (its lines show in the run's Logs tab); outside a run, segpipe's."""
    try:
        return get_run_logger()
    except MissingContextError:
        return _fallback


def end_refused(body: Callable[[], T], on_refusal: Callable[[SegpipeError], None] | None = None) -> T | State:
    """`body()`, or for an expected refusal a Failed state with its one-line message (the exception as data, so
    a caller in this process re-raises it); unexpected errors propagate with their traceback."""
    try:
        return body()
    except SegpipeError as exc:
        if not is_expected(exc):
            raise
        log().error("refused: %s", exc)
        if on_refusal is not None:
            on_refusal(exc)
        return Failed(message=str(exc).splitlines()[0], data=exc)
