"""How every command reports: Rich for people, JSON with `--json`, one-line errors and exit codes 0/1/2/3."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import typer
from rich.console import Console, ConsoleDimensions

from segpipe.errors import GateRefused, PrivilegeDbError, SegpipeError

PIPE_WIDTH = 1000
"""The width lines are laid out at when the output is not a terminal and COLUMNS is not set."""


class _Console(Console):
    """Rich lays everything out at 80 columns when the output is a pipe or a file, so a table cuts a long key or
    status to `…` and long lines wrap: what scripts (and tests) grep for would be lost. Off a terminal, tables take
    their natural width instead; COLUMNS still decides when it is set."""

    @property  # type: ignore[misc]  # Rich's setter stays usable: `_width` still decides
    def size(self) -> ConsoleDimensions:
        size = super().size
        if self._width is None and not self.is_terminal and not os.environ.get("COLUMNS"):
            return ConsoleDimensions(PIPE_WIDTH, size.height)
        return size


console = _Console()
err_console = _Console(stderr=True)

JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON on stdout.")


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, UUID | Path):
        return str(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if hasattr(value, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def to_json(data: Any) -> str:
    return json.dumps(data, default=_default, ensure_ascii=False)


def emit(data: Any, as_json: bool, render: Callable[[Any], None] | None = None) -> None:
    """Print a result: JSON on stdout with `--json`, else the human rendering (or the JSON when there is none)."""
    if as_json or render is None:
        sys.stdout.write(to_json(data) + "\n")
    else:
        render(data)


def fail(message: str, code: int, as_json: bool, extra: dict[str, Any] | None = None) -> None:
    """One line `error: ...` on stderr (and a JSON object on stdout with `--json`), then exit with `code`."""
    line = " ".join(str(message).split())
    sys.stderr.write(f"error: {line}\n")
    if as_json:
        sys.stdout.write(to_json({"error": line, "exit_code": code, **(extra or {})}) + "\n")
    raise typer.Exit(code)


@contextmanager
def handle_errors(as_json: bool = False) -> Iterator[None]:
    """Turn segpipe errors into exit codes, and any other failure into exit 1 with one line (no traceback).

    Set SEGPIPE_DEBUG=1 to see the traceback of unexpected errors.
    """
    try:
        yield
    except typer.Exit:
        raise
    except SegpipeError as exc:
        extra: dict[str, Any] = {}
        if getattr(exc, "gate", None):  # GateRefused, or Postgres refusing a privilege (PrivilegeDbError)
            extra["gate"] = exc.gate  # type: ignore[attr-defined]
        if isinstance(exc, GateRefused) and exc.details is not None:
            extra["details"] = exc.details
        fail(_message(exc), exc.exit_code, as_json, extra)
    except KeyboardInterrupt:
        fail("interrupted", 1, as_json)
    except Exception as exc:
        if os.environ.get("SEGPIPE_DEBUG"):
            raise
        fail(f"{type(exc).__name__}: {exc}", 1, as_json)


def _message(exc: SegpipeError) -> str:
    if isinstance(exc, PrivilegeDbError):  # the session's role lacks a privilege (docs/security.md)
        return f"permission denied by Postgres: {exc.message.split(': ', 1)[-1]}"
    return str(exc)
