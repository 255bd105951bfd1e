"""The reliability suite runs thousands of in-process commands: build the Typer command tree once, not per call."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import typer.testing


@pytest.fixture(scope="session", autouse=True)
def _cached_command_tree() -> Iterator[None]:
    """typer's CliRunner rebuilds the click tree of the whole CLI on every invoke (~70% of a fast command)."""
    build = typer.testing._get_command
    built: dict[int, Any] = {}

    def cached(app: typer.Typer) -> Any:
        if id(app) not in built:
            built[id(app)] = build(app)
        return built[id(app)]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(typer.testing, "_get_command", cached)
        yield
