"""Settings, read from the environment once, at the edge, and passed down explicitly."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    database_url: str | None = None
    """SQLAlchemy URL of the Postgres database; None means the embedded server."""
    home: Path = Path("~/.local/share/segpipe").expanduser()
    """Where segpipe keeps the embedded server's data and its own files."""
    catalog_url: str | None = None
    """Base URL of the segment catalog (`segpipe catalog`, `segpipe serve`) as others reach it, e.g.
    `http://catalog.internal:4300`; Prefect artifacts link each segment to its page there. None: no links."""

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        home = env.get("SEGPIPE_HOME") or "~/.local/share/segpipe"
        return cls(
            database_url=env.get("SEGPIPE_DATABASE_URL") or None,
            home=Path(home).expanduser(),
            catalog_url=(env.get("SEGPIPE_CATALOG_URL") or "").rstrip("/") or None,
        )
