"""How long-running domain operations report progress without knowing who listens (Rich bar, Prefect, nothing)."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """A sink for progress reports; adapters for Rich and Prefect live outside the domain."""

    def start(self, total: int | None, description: str = "") -> None:
        """Work of `total` steps begins (None when the total is unknown)."""

    def advance(self, steps: int = 1, description: str | None = None) -> None:
        """`steps` more steps are done; `description` says what is being worked on now."""

    def finish(self) -> None:
        """The work is over (successfully or not)."""


class NullProgress:
    """Reports to nobody: the default when the caller passes no progress sink."""

    def start(self, total: int | None, description: str = "") -> None:
        return None

    def advance(self, steps: int = 1, description: str | None = None) -> None:
        return None

    def finish(self) -> None:
        return None
