"""Start the real `segpipe` in its own process group and crash it: kill -9 of the group, or its backends terminated."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.reliability.helpers import SEGPIPE

FAULTS = ("sigkill", "terminate")


@dataclass
class Crash:
    fault: str
    delay: float
    exit_code: int | None  # the process's exit code; None when it was killed
    hit: bool  # the fault landed while the command ran (else it had already finished)
    stderr: str


def _env(db_url: str, home: Path, app: str) -> dict[str, str]:
    return {
        **os.environ,
        "SEGPIPE_DATABASE_URL": db_url,
        "SEGPIPE_HOME": str(home),
        "SEGPIPE_ORCHESTRATION": "direct",
        "PGAPPNAME": app,
    }


def _terminate(engine: Engine, app: str) -> int:
    with engine.connect() as conn:
        query = (
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = :a"
        )
        return conn.execute(sa.text(query), {"a": app}).scalar_one()


def _terminate_when_connected(proc: subprocess.Popen[str], engine: Engine, app: str, delay: float) -> bool:
    """Wait for the command's first backend, let it work a random share of `delay`, then terminate its backends."""
    seen = None
    while proc.poll() is None:
        if seen is None and _backends(engine, app):
            seen = time.monotonic()
        if seen is not None and time.monotonic() - seen >= delay * 0.1 and _terminate(engine, app):
            return True
        time.sleep(0.02)
    return False


def _backends(engine: Engine, app: str) -> int:
    with engine.connect() as conn:
        query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = :a"
        return conn.execute(sa.text(query), {"a": app}).scalar_one()


def crash(args: list[str], *, db_url: str, home: Path, engine: Engine, fault: str, delay: float) -> Crash:
    """Run `segpipe ARGS`; after `delay` seconds kill its process group (or terminate its backends, repeatedly)."""
    app = f"segpipe-kill-{os.getpid()}-{time.monotonic_ns()}"
    proc = subprocess.Popen(
        [str(SEGPIPE), *args],
        env=_env(db_url, home, app),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the kill takes its children too
    )
    if fault == "sigkill":
        time.sleep(delay)
        hit = proc.poll() is None
        if hit:
            os.killpg(proc.pid, signal.SIGKILL)
    else:
        hit = _terminate_when_connected(proc, engine, app, delay)
    _, stderr = proc.communicate(timeout=300)
    return Crash(fault, delay, None if proc.returncode < 0 else proc.returncode, hit, stderr)
