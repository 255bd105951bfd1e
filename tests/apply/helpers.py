"""Shared helpers of the apply tests: writing documents and snapshotting everything apply may write."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segpipe.db import schema as t

WRITTEN_TABLES = (
    t.segments,
    t.segment_dependencies,
    t.segment_status_changes,
    t.consumers,
    t.consumer_segments,
    t.consumer_links,
)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def snapshot(engine: Engine) -> dict[str, list[Any]]:
    """Every row of every table apply writes, in a stable order: equal snapshots mean nothing was written."""
    with engine.connect() as conn:
        return {
            table.name: sorted(
                json.dumps(dict(row._mapping), default=str, sort_keys=True) for row in conn.execute(sa.select(table))
            )
            for table in WRITTEN_TABLES
        }


def segment(engine: Engine, key: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(t.segments).where(t.segments.c.key == key)).first()
    return dict(row._mapping) if row else None


def output_json(result: Any) -> dict[str, Any]:
    return json.loads(result.stdout.strip().splitlines()[-1])


def actions(result: Any) -> dict[tuple[str, str], str]:
    return {(obj["kind"], obj["key"]): obj["action"] for obj in output_json(result)["objects"]}
