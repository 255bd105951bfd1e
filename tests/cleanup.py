"""Emptying a test module's database between tests (the audits are append-only and keep their rows)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

WRITTEN_TABLES = (
    "profiles",
    "events",
    "event_ids",
    "subscriptions",
    "activity",
    "loaded_contents",
    "segments",
    "memberships",
    "consumers",
    "refresh_runs",
    "audience_snapshots",
    "deletion_jobs",
    "grants",
)
"""The tables flows, refreshes and deletions write; TRUNCATE ... CASCADE empties what hangs off them too."""


def truncate_written(engine: Engine) -> Engine:
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE " + ", ".join(f"segpipe.{t}" for t in WRITTEN_TABLES) + " CASCADE"))
    return engine
