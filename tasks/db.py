"""Where tasks find their database: `SEGPIPE_DATABASE_URL` in the environment of the process that runs the flow
(`segpipe serve`, a worker, or the CLI), else segpipe's embedded Postgres. Never a flow parameter: a URL can carry
a password, and parameters are shown in the UI."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy.engine import Engine

from segpipe.config import Settings
from segpipe.db.engine import get_engine


@lru_cache(maxsize=8)
def _engine_for(settings: Settings) -> Engine:
    return get_engine(settings)


def engine() -> Engine:
    """The migrated engine for the environment's settings (migrations run once per process and database)."""
    return _engine_for(Settings.from_env())
