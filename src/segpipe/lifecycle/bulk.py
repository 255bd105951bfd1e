"""Bulk lifecycle commands: one transaction per key, one outcome per key, never half of one key applied."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection, Engine

from segpipe.errors import GateRefused, InvalidInput, NotFound

UNKNOWN, REFUSED, INVALID = "unknown", "refused", "invalid"


@dataclass(frozen=True)
class Outcome:
    """What an operation did to one key: `archived`, `unchanged`, `deleted`, …, or `unknown` / `refused`."""

    key: str
    outcome: str
    message: str | None = None
    exit_code: int = 0
    gate: str | None = None
    details: Any = None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"key": self.key, "outcome": self.outcome, "ok": self.ok}
        for name in ("message", "gate", "details"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        return data


Operation = Callable[[Connection, str], Outcome]


def refusal(key: str, exc: InvalidInput | GateRefused) -> Outcome:
    """The outcome of a key that an operation refused: unknown (2), invalid (2) or refused by a gate (3)."""
    if isinstance(exc, GateRefused):
        return Outcome(key, REFUSED, exc.message, 3, exc.gate, exc.details)
    return Outcome(key, UNKNOWN if isinstance(exc, NotFound) else INVALID, exc.message, 2)


def run_per_key(engine: Engine, keys: Iterable[str], operation: Operation) -> list[Outcome]:
    """Run `operation` for each key (once, in the given order) in its own transaction.

    A refused key rolls back only its own transaction; the other keys go on. Unexpected errors propagate.
    """
    outcomes = []
    for key in dict.fromkeys(keys):
        try:
            with engine.begin() as conn:
                outcomes.append(operation(conn, key))
        except (InvalidInput, GateRefused) as exc:
            outcomes.append(refusal(key, exc))
    return outcomes


def bulk_exit_code(outcomes: Iterable[Outcome]) -> int:
    """3 when any key was refused by a gate, else 2 when any key was unknown or invalid, else 0."""
    codes = {outcome.exit_code for outcome in outcomes}
    return 3 if 3 in codes else 2 if 2 in codes else 0
