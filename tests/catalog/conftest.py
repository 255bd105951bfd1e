"""Catalog tests: one world per module (built with the real commands), the app over a read-only engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient
from typer.testing import CliRunner

from segpipe.catalog.app import create_app
from segpipe.catalog.options import CatalogOptions
from segpipe.catalog.server import catalog_engine
from segpipe.config import Settings
from tests.catalog import world as world_module


@pytest.fixture(scope="module")
def world(db_url: str, settings: Settings, engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Engine:
    from segpipe.cli.main import app

    runner = CliRunner()
    env = {"SEGPIPE_DATABASE_URL": db_url, "SEGPIPE_HOME": str(settings.home), "SEGPIPE_ORCHESTRATION": "direct"}

    def run(*args: Any) -> None:
        result = runner.invoke(app, [str(a) for a in args], env=env, catch_exceptions=False)
        assert result.exit_code == 0, (args, result.output)

    world_module.build(run, engine, Path(tmp_path_factory.mktemp("world")))
    return engine


@pytest.fixture(scope="module")
def read_only(world: Engine, settings: Settings) -> Engine:
    return catalog_engine(settings)


@pytest.fixture(scope="module")
def client(read_only: Engine) -> TestClient:
    options = CatalogOptions(prefect_ui_url="http://prefect.test:4200", refresh_schedule="hourly (test)")
    return TestClient(create_app(read_only, options), follow_redirects=False)
