"""Flow tests: real Postgres (this module's database) and the session's real Prefect server.

Flows find their database in SEGPIPE_DATABASE_URL (the environment of the process running them), so the `flow_env`
fixture points it at this module's database.
"""

from __future__ import annotations

import pytest

from tests.cleanup import truncate_written
from tests.flows.helpers import seed


@pytest.fixture()
def flow_env(prefect_server, db_url, settings, monkeypatch):
    """Flows run in this process against the Prefect server and this module's database."""
    monkeypatch.setenv("SEGPIPE_DATABASE_URL", db_url)
    monkeypatch.setenv("SEGPIPE_HOME", str(settings.home))
    return prefect_server


@pytest.fixture()
def clean(engine):
    return truncate_written(engine)


@pytest.fixture()
def world(clean, cli, tmp_path):
    """Ten profiles, subscriptions, segments de / fr / pro / de-pro (de-pro references de and pro), an inactive
    and an archived segment, campaign `bf` (include de, fr; exclude pro; email)."""
    seed(cli, tmp_path)
    return clean
