"""The quickstart's domain part: write the demo files, load them, apply the demo objects."""

from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segpipe.apply.execute import apply_documents
from segpipe.apply.files import read_documents
from segpipe.db import schema as t
from segpipe.demo.data import FIRST_DEMO_ID, write_demo_files
from segpipe.load.loader import LoadResult, load
from segpipe.load.readers import open_source
from segpipe.timeutil import now


@dataclass(frozen=True)
class DemoSetup:
    loads: list[LoadResult]
    objects: dict[str, int]
    """Apply actions of the demo objects: created / updated / unchanged."""


def demo_objects_path() -> Path:
    return Path(str(resources.files("segpipe.demo") / "objects.yaml"))


def demo_loaded(engine: Engine) -> bool:
    with engine.connect() as conn:
        query = sa.select(t.profiles.c.id).where(t.profiles.c.external_id == FIRST_DEMO_ID)
        return conn.execute(query).first() is not None


def set_up_demo(engine: Engine, profiles: int = 5000) -> DemoSetup:
    """Load the demo data (once: a second run reuses it) and apply the demo segments and campaigns."""
    loads: list[LoadResult] = []
    if not demo_loaded(engine):
        with tempfile.TemporaryDirectory(prefix="segpipe-demo-") as folder:
            files = write_demo_files(Path(folder), now(), profiles=profiles)
            loads = [load(engine, kind, open_source(str(path))) for kind, path in files.in_load_order()]
    plan = apply_documents(engine, read_documents([str(demo_objects_path())]))
    return DemoSetup(loads=loads, objects=dict(Counter(obj.action for obj in plan.objects)))
