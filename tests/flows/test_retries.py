"""Retries: a real transient fault (the task's backend terminated by an administrator) is retried and the segment
succeeds; invalid input fails at once, without a retry."""

from __future__ import annotations

import contextvars
import threading

import sqlalchemy as sa

from flows.refresh import refresh_segments
from segpipe.db.engine import lock_id
from segpipe.errors import NotFound
from tests.flows.helpers import task_runs, wait_for

_WAITING = sa.text(
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    " AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
)


def _waiting(conn: sa.engine.Connection) -> int | None:
    pid = conn.execute(_WAITING).scalar()
    conn.rollback()  # pg_stat_activity is read once per transaction; the session-level lock stays held
    return pid


def test_a_terminated_backend_is_retried_and_succeeds(world, flow_env, engine):
    states: list = []
    with engine.connect() as holder:
        holder.execute(sa.select(sa.func.pg_advisory_lock(lock_id("refresh", "fr"))))
        holder.commit()
        run = contextvars.copy_context().run  # the thread sees this test's Prefect settings (the session server)
        worker = threading.Thread(
            target=run, args=(lambda: states.append(refresh_segments(keys=["fr"], return_state=True)),)
        )
        worker.start()
        pid = wait_for(lambda: _waiting(holder), 60, "the task to wait on the segment's lock")
        assert holder.execute(sa.select(sa.func.pg_terminate_backend(pid))).scalar()
        holder.execute(sa.select(sa.func.pg_advisory_unlock(lock_id("refresh", "fr"))))
        holder.commit()
    worker.join(90)
    assert not worker.is_alive() and states
    state = states[0]
    assert state.is_completed(), state.message
    segments = state.result()["segments"]
    assert [(s["key"], s["status"]) for s in segments] == [("fr", "succeeded")]
    runs = {r["name"]: r for r in task_runs(flow_env, str(state.state_details.flow_run_id))}
    assert runs["refresh fr"]["run_count"] == 2 and runs["refresh fr"]["state_type"] == "COMPLETED"


def test_invalid_input_is_not_retried(world, flow_env):
    state = refresh_segments(keys=["nope"], return_state=True)
    assert state.is_failed()
    assert isinstance(state.result(raise_on_failure=False), NotFound)
    runs = {r["name"]: r for r in task_runs(flow_env, str(state.state_details.flow_run_id))}
    assert runs["plan refresh (flow)"]["run_count"] == 1 and runs["plan refresh (flow)"]["state_type"] == "FAILED"
