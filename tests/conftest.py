"""Real-Postgres fixtures: every test module gets its own database, cloned from a migrated template.

`SEGPIPE_TEST_DATABASE_URL` points at a server to use (any database on it; segpipe creates its own);
without it the embedded server is started under a temporary SEGPIPE_HOME.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from typer.testing import CliRunner

from segpipe.config import Settings
from segpipe.db.engine import get_engine, normalize_url

os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a maintenance database on the test server (the configured one, or an embedded one we own)."""
    configured = os.environ.get("SEGPIPE_TEST_DATABASE_URL")
    if configured:
        yield normalize_url(configured)
        return
    from segpipe.db import embedded

    chosen = os.environ.get("SEGPIPE_TEST_HOME")
    home = Path(chosen or tmp_path_factory.mktemp("segpipe-home"))
    yield embedded.ensure_running(home).url
    if not chosen:
        embedded.destroy(home)


def _admin(server_url: str) -> Engine:
    return sa.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


def _database_url(server_url: str, name: str) -> str:
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def template_db(server_url: str) -> Iterator[str]:
    """A migrated database used as the template of every test database."""
    name = f"segpipe_tpl_{uuid.uuid4().hex[:10]}"
    admin = _admin(server_url)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine = get_engine(Settings(database_url=_database_url(server_url, name)))
    engine.dispose()
    yield name
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def _fresh_database(server_url: str, template: str) -> str:
    name = f"segpipe_t_{uuid.uuid4().hex[:12]}"
    admin = _admin(server_url)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    admin.dispose()
    return name


def _drop_database(server_url: str, name: str) -> None:
    admin = _admin(server_url)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(scope="module")
def db_url(server_url: str, template_db: str) -> Iterator[str]:
    """A fresh, migrated database for this test module."""
    name = _fresh_database(server_url, template_db)
    yield _database_url(server_url, name)
    _drop_database(server_url, name)


@pytest.fixture(scope="module")
def settings(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(database_url=db_url, home=tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def engine(settings: Settings) -> Engine:
    return get_engine(settings)


@pytest.fixture()
def cli(db_url: str, settings: Settings):
    """Run the real `segpipe` command (in-process) against this module's database; returns the Result."""
    from segpipe.cli.main import app

    runner = CliRunner()
    # Direct orchestration unless a test asks otherwise: once the session's Prefect server is up, PREFECT_API_URL
    # is set and `auto` would route every command through Prefect.
    base = {"SEGPIPE_DATABASE_URL": db_url, "SEGPIPE_HOME": str(settings.home), "SEGPIPE_ORCHESTRATION": "direct"}

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None):
        merged = {**base, **(env or {})}
        return runner.invoke(app, [str(a) for a in args], env=merged, input=input, catch_exceptions=False)

    return run


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory):
    """A real Prefect server for this test session; flows run against it (see tests/prefect_server.py)."""
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

    from tests.prefect_server import start_prefect_server

    for server in start_prefect_server(tmp_path_factory.mktemp("prefect-home")):
        saved = {k: os.environ.get(k) for k in ("PREFECT_API_URL", "PREFECT_HOME")}
        os.environ.update(server.env())
        with temporary_settings({PREFECT_API_URL: server.api_url, PREFECT_HOME: server.home}):
            yield server
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
