"""The scale-out path that runs here (issue 12.4, docs/scale-out.md): a real `process` work pool named in
prefect.yaml, deployed with `prefect deploy --all`, two `prefect worker` processes (one flow run each), and
refresh-all and presend run at once to completion against the test database.

To make "at once" certain rather than likely, the test holds the refresh lock of `churned` (a segment both runs
refresh) until both runs are inside Postgres waiting for it: the two flow runs are then Running together, each
in its own worker's process, and the advisory lock keeps their two refreshes of `churned` apart. Both runs get
the same `as_of`: a pre-send refuses its snapshot (exit-3 semantics) when a segment of its campaign was refreshed
for another time while it ran, which a refresh-all started a moment later would otherwise do.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from subprocess import STDOUT
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segpipe.db.engine import lock_id
from segpipe.demo.quickstart import set_up_demo
from tests.prefect_server import PrefectServer

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun

ROOT = Path(__file__).resolve().parents[1]
POOL = "segpipe"
WORKERS = ("worker-a", "worker-b")
SCHEDULED = ("scheduled-refresh/scheduled-refresh", "classify-inactive/classify", "run-due-deletions/run-due-deletions")
LOCKED_SEGMENT = "churned"
TIMEOUT_S = 240
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def _env(server: PrefectServer, db_url: str, home: Path) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return {
        **os.environ,
        **server.env(),
        "PREFECT_HOME": str(home),
        "SEGPIPE_DATABASE_URL": db_url,
        "SEGPIPE_PROJECT_DIR": str(ROOT),
        "PYTHONPATH": path,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_WORKER_QUERY_SECONDS": "2",
        # The test reads which worker started which run from the workers' INFO lines; in-process CLI tests of
        # the same session may have quieted the console in os.environ (segpipe.cli.orchestration.quiet_prefect).
        "PREFECT_LOGGING_LEVEL": "INFO",
        "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "INFO",
    }


def _prefect(*args: str, env: dict[str, str]) -> None:
    prefect = str(Path(sys.executable).with_name("prefect"))
    done = subprocess.run([prefect, "--no-prompt", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout}\n{done.stderr}"


@pytest.fixture()
def workers(prefect_server: PrefectServer, db_url: str, tmp_path: Path) -> Iterator[list[Path]]:
    """The pool, the deployments of prefect.yaml (cron schedules paused) and two workers; always stopped."""
    env = _env(prefect_server, db_url, tmp_path)
    _prefect("work-pool", "create", POOL, "--type", "process", env=env)
    _prefect("deploy", "--all", env=env)
    _pause_schedules()
    started: list[subprocess.Popen[bytes]] = []
    logs = [tmp_path / f"{name}.log" for name in WORKERS]
    try:
        for name, log in zip(WORKERS, logs, strict=True):
            started.append(_start_worker(name, log, env))
        yield logs
    finally:
        for process in started:
            _stop(process)


def _start_worker(name: str, log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """One worker taking one flow run at a time, so that two runs at once need both workers."""
    prefect = str(Path(sys.executable).with_name("prefect"))
    command = [prefect, "worker", "start", "--pool", POOL, "--name", name, "--limit", "1"]
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=STDOUT, start_new_session=True)


def _pause_schedules() -> None:
    """No cron run may take a worker's only slot while the test runs (pausing deletes auto-scheduled runs)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        for name in SCHEDULED:
            client.pause_deployment(client.read_deployment_by_name(name).id)


def _stop(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def _waiting_for_lock(engine: Engine) -> int:
    """Sessions of this database waiting for the locked segment's refresh lock."""
    key = lock_id("refresh", LOCKED_SEGMENT)
    query = sa.text(
        "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
        " WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = current_database()"
        " AND l.classid = CAST(:high AS oid) AND l.objid = CAST(:low AS oid) AND l.objsubid = 1"
    )
    with engine.connect() as conn:
        return int(conn.execute(query, {"high": (key >> 32) & 0xFFFFFFFF, "low": key & 0xFFFFFFFF}).scalar_one())


def _poll(until: Callable[[], bool], what: str, runs: list[Any], logs: list[Path]) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not until():
        states = {run.name: _state(run.id) for run in runs}
        failed = {name: state for name, state in states.items() if state in FINAL - {"COMPLETED"}}
        if failed or time.monotonic() > deadline:
            tails = "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in logs)
            pytest.fail(f"waiting for {what}: flow runs {states}\n{tails}")
        time.sleep(1)


def _started(worker_log: str, run_id: str) -> bool:
    """The worker started the run: it submitted it and did not lose the race for it to the other worker."""
    submitted = f"submitting flow run '{run_id}'" in worker_log
    return submitted and f"Aborted submission of flow run '{run_id}'" not in worker_log


def _run(name: str, **parameters: Any) -> FlowRun:
    """Create a flow run of the deployment and return at once (the workers pick it up)."""
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment

    run = run_deployment(name, parameters=parameters, timeout=0)
    assert isinstance(run, FlowRun)
    return run


def _state(run_id: Any) -> str:
    return str(_read(run_id).state.type.value)


def _read(run_id: Any) -> Any:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(run_id)


def test_two_workers_run_refresh_all_and_presend_at_once(workers: list[Path], engine: Engine) -> None:
    set_up_demo(engine, profiles=500)
    with engine.connect() as holder:
        holder.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": lock_id("refresh", LOCKED_SEGMENT)})
        holder.commit()
        as_of = datetime.now(UTC)
        refresh = _run("refresh-all/refresh-all", as_of=as_of)
        presend = _run("presend-refresh/presend", campaign_key="black-friday", as_of=as_of)
        runs = [refresh, presend]
        _poll(lambda: _waiting_for_lock(engine) == 2, "both runs to wait for the lock", runs, workers)
        assert {_state(run.id) for run in runs} == {"RUNNING"}
        holder.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": lock_id("refresh", LOCKED_SEGMENT)})
        holder.commit()
    _poll(lambda: {_state(run.id) for run in runs} <= FINAL, "both runs to finish", runs, workers)
    done = [_read(run.id) for run in runs]
    assert [run.state.type.value for run in done] == ["COMPLETED", "COMPLETED"], [run.state.message for run in done]
    first, second = done
    assert first.start_time < second.end_time and second.start_time < first.end_time
    logs = [log.read_text() for log in workers]
    started = [[i for i, text in enumerate(logs) if _started(text, str(run.id))] for run in done]
    assert sorted(started) == [[0], [1]], f"runs started by workers {started}"
    with engine.connect() as conn:
        snapshot = conn.execute(
            sa.text(
                "SELECT s.status, s.member_count, count(m.profile_id) FROM segpipe.audience_snapshots s"
                " LEFT JOIN segpipe.snapshot_members m ON m.snapshot_id = s.id"
                " WHERE s.flow_run_id = :run GROUP BY s.id"
            ),
            {"run": str(presend.id)},
        ).one()
    assert snapshot[0] == "ready" and snapshot[1] == snapshot[2] > 0
