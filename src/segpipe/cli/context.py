"""The CLI's access to the database: settings from the environment, one engine per process.

Imported by every command module, so it imports SQLAlchemy and the engine only when a command asks for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from segpipe.config import Settings


def settings() -> Settings:
    """Read on each call: cheap, and tests run many CLI invocations with different environments."""
    from segpipe.config import Settings

    return Settings.from_env()


def engine() -> Engine:
    """The migrated engine for the configured (or embedded) database."""
    from segpipe.db.engine import get_engine

    return get_engine(settings())
