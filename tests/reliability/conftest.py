"""The reliability suite runs thousands of in-process commands: build the Typer command tree once, not per call."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
import typer.testing
from typer.testing import CliRunner

from tests.reliability.world import seed


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


@pytest.fixture(scope="module")
def world(db_url: str, engine: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A seeded database (world.seed) and the ways to drive it: in-process `invoke`, the real command, a rng."""
    from segpipe.cli.main import app

    home = tmp_path_factory.mktemp("world-home")
    runner = CliRunner()
    env = {"SEGPIPE_DATABASE_URL": db_url, "SEGPIPE_HOME": str(home), "SEGPIPE_ORCHESTRATION": "direct"}

    def invoke(*args: str) -> Any:
        return runner.invoke(app, list(args), env=env, catch_exceptions=False)

    seed(invoke, home)
    assert invoke("grant", "alice", "profiles:view", "profiles:edit").exit_code == 0
    return {"home": home, "invoke": invoke, "db_url": db_url, "engine": engine, "rng": random.Random(16)}
