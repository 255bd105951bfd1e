"""Driver errors classified once, where they happen: transient (worth a retry) or terminal, by SQLSTATE.

The engine's `handle_error` listener replaces SQLAlchemy's wrapper of a psycopg error by an object that is both
the segpipe error (`TransientDbError` or `DbError`, exit code 1) and the SQLAlchemy class it replaces
(`sa.exc.IntegrityError`, `sa.exc.OperationalError`…, with `.orig`, `.statement`), so code that catches either
keeps working and retry policies become an `isinstance` check (`segpipe.errors.is_transient`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import ExceptionContext

from segpipe.errors import DbError, PrivilegeDbError, TransientDbError

TRANSIENT_SQLSTATES = ("08", "40001", "40P01", "53", "55P03", "57P01", "57P02", "57P03")
"""SQLSTATE classes (two characters) and codes a retry can cure: connection exceptions, serialization failure,
deadlock, insufficient resources, lock not available (lock_timeout), administrator/crash shutdown, cannot
connect now. Anything else (constraint violations, syntax, privileges, data exceptions…) is terminal."""


def is_transient_fault(orig: BaseException, disconnected: bool) -> bool:
    """True when the driver error `orig` is worth retrying: a transient SQLSTATE, or a lost connection
    (client-side faults carry no SQLSTATE: a dropped socket, a refused connection)."""
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate:
        return str(sqlstate).startswith(TRANSIENT_SQLSTATES)
    return disconnected or type(orig).__name__ in {"OperationalError", "InterfaceError"}


def describe_driver_error(orig: BaseException) -> str:
    """One line naming the error: the driver's class and the first line of its message (no SQL text)."""
    text = str(orig).strip()
    return f"{type(orig).__name__}: {text.splitlines()[0]}" if text else type(orig).__name__


class _Classified:
    """Builds like SQLAlchemy's DBAPIError (so it pickles the same way); reads like a segpipe error."""

    message: str
    sqlstate: str | None

    def __init__(
        self,
        statement: str | None,
        params: Any,
        orig: BaseException,
        hide_parameters: bool = False,
        connection_invalidated: bool = False,
        code: str | None = None,
        ismulti: bool | None = None,
    ) -> None:
        sa.exc.DBAPIError.__init__(
            self,  # type: ignore[arg-type]  # always mixed into a DBAPIError subclass (see _classes)
            statement,
            params,
            orig,
            hide_parameters,
            connection_invalidated,
            code,
            ismulti,
        )
        self.message = describe_driver_error(orig)
        self.sqlstate = getattr(orig, "sqlstate", None)


_WRAPPERS: tuple[type[sa.exc.DBAPIError], ...] = (
    sa.exc.DBAPIError,
    sa.exc.InterfaceError,
    sa.exc.DatabaseError,
    sa.exc.DataError,
    sa.exc.OperationalError,
    sa.exc.IntegrityError,
    sa.exc.InternalError,
    sa.exc.ProgrammingError,
    sa.exc.NotSupportedError,
)


def _classes(kind: type[DbError], prefix: str) -> dict[type[sa.exc.DBAPIError], type[Any]]:
    """One class per SQLAlchemy wrapper, named in this module (`TransientOperationalError`…) so it pickles."""
    made: dict[type[sa.exc.DBAPIError], type[Any]] = {}
    for wrapper in _WRAPPERS:
        name = f"{prefix}{wrapper.__name__}"
        made[wrapper] = globals()[name] = type(name, (_Classified, kind, wrapper), {"__module__": __name__})
    return made


_TRANSIENT = _classes(TransientDbError, "Transient")
_TERMINAL = _classes(DbError, "Terminal")
_PRIVILEGE = _classes(PrivilegeDbError, "Privilege")
INSUFFICIENT_PRIVILEGE = "42501"


def _table(orig: BaseException, disconnected: bool) -> dict[type[sa.exc.DBAPIError], type[Any]]:
    if is_transient_fault(orig, disconnected):
        return _TRANSIENT
    return _PRIVILEGE if getattr(orig, "sqlstate", None) == INSUFFICIENT_PRIVILEGE else _TERMINAL


def classify(ctx: ExceptionContext) -> BaseException | None:
    """The engine's `handle_error` listener: return the classified error SQLAlchemy raises instead of its own."""
    wrapped = ctx.sqlalchemy_exception
    if ctx.is_pre_ping or not isinstance(wrapped, sa.exc.DBAPIError) or isinstance(wrapped, DbError):
        return None  # a failed pre-ping is SQLAlchemy's to handle (it reconnects); non-driver errors pass
    orig = ctx.original_exception
    table = _table(orig, ctx.is_disconnect)
    cls = table.get(type(wrapped), table[sa.exc.DBAPIError])
    args = (wrapped.hide_parameters, wrapped.connection_invalidated, None, wrapped.ismulti)
    error: BaseException = cls(wrapped.statement, wrapped.params, orig, *args)
    return error


def install(engine: sa.engine.Engine) -> None:
    """Classify every driver error of `engine` (connect, execute, commit, rollback)."""
    sa.event.listen(engine, "handle_error", classify)
