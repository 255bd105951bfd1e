"""The CLI's access to the database: settings from the environment, one engine per process."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from segpipe.config import Settings
from segpipe.db.engine import get_engine


def settings() -> Settings:
    """Read on each call: cheap, and tests run many CLI invocations with different environments."""
    return Settings.from_env()


def engine() -> Engine:
    """The migrated engine for the configured (or embedded) database."""
    return get_engine(settings())
