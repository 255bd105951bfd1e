"""One error hierarchy: each class carries the CLI exit code it maps to."""

from __future__ import annotations


class SegpipeError(Exception):
    """Base of every error segpipe raises on purpose. Exit code 1."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidInput(SegpipeError):
    """Bad input: a file row, a document, an argument. Exit code 2.

    `where` is the place of the fault: a JSON path (`rules.all[2].op`) or `file:row`.
    """

    exit_code = 2

    def __init__(self, message: str, where: str | None = None) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where
        self.reason = message


class NotFound(InvalidInput):
    """A named object (segment, campaign, job) does not exist. Exit code 2."""


class GateRefused(SegpipeError):
    """A safety gate refused the operation. Exit code 3.

    `gate` is a stable code (`confirmation`, `permission`, `quality`, `referenced`, `refresh-in-progress`).
    """

    exit_code = 3

    def __init__(self, gate: str, message: str, details: object | None = None) -> None:
        super().__init__(message)
        self.gate = gate
        self.details = details


class RefreshInProgress(GateRefused):
    def __init__(self, key: str) -> None:
        super().__init__("refresh-in-progress", f"segment '{key}': refresh in progress; try again when it finishes")
        self.key = key


class TransientDbError(SegpipeError):
    """A database fault worth retrying (lost connection, serialization failure, deadlock, shutdown)."""


# SQLSTATE classes and codes that a retry can cure.
_TRANSIENT_SQLSTATES = ("08", "40001", "40P01", "57P01", "57P02", "57P03", "55P03")


def is_transient(exc: BaseException) -> bool:
    """True when `exc` (or what caused it) is a database fault worth retrying; the only retry policy."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, TransientDbError):
            return True
        if isinstance(current, SegpipeError):
            return False
        sqlstate = getattr(current, "sqlstate", None) or getattr(getattr(current, "orig", None), "sqlstate", None)
        if sqlstate and sqlstate.startswith(_TRANSIENT_SQLSTATES):
            return True
        if getattr(current, "connection_invalidated", False):
            return True
        if type(current).__name__ in {"OperationalError", "InterfaceError"} and "closed" in str(current).lower():
            return True
        current = current.__cause__ or current.__context__
    return False
