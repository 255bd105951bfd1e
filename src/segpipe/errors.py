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


class DbError(SegpipeError):
    """A database error a retry will not cure: a violated constraint, bad SQL, a missing privilege. Exit code 1.

    The engine (`segpipe.db.engine`) raises it in place of the driver's error, classified once by SQLSTATE; the
    raised object is also the SQLAlchemy error it replaces (`sa.exc.IntegrityError`…, with `.orig`).
    """

    sqlstate: str | None = None
    """Postgres's SQLSTATE (`23505`), or None for a client-side fault."""


class TransientDbError(DbError):
    """A database fault worth retrying: lost connection, serialization failure, deadlock, shutdown, resources."""


class PrivilegeDbError(DbError):
    """Postgres refused the session's role (SQLSTATE 42501): a permission gate enforced by the database, exit 3
    with gate `permission` (docs/security.md). Terminal: a retry will not grant the privilege."""

    exit_code = 3
    gate = "permission"


def is_transient(exc: BaseException) -> bool:
    """True when `exc` is a database fault worth retrying; the only retry policy."""
    return isinstance(exc, TransientDbError)
