"""The delete-profiles flow: confirmed upfront; approved in a paused run's form; no approval in time → cancelled."""

from __future__ import annotations

import contextvars
import threading

import sqlalchemy as sa
from prefect.flow_runs import resume_flow_run

from flows.delete_profiles import delete_segment_profiles, run_due_deletions
from tests.flows.helpers import api, wait_for


def _count(engine, where: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM segpipe.profiles WHERE {where}")).scalar_one()


def _in_thread(**parameters):
    states: list = []
    run = contextvars.copy_context().run
    worker = threading.Thread(
        target=run, args=(lambda: states.append(delete_segment_profiles(**parameters, return_state=True)),)
    )
    worker.start()
    return worker, states


def _paused_run(server, name: str) -> str | None:
    body = {"flow_runs": {"name": {"any_": [name]}, "state": {"type": {"any_": ["PAUSED"]}}}}
    runs = api(server, "POST", "/flow_runs/filter", json=body)
    return runs[0]["id"] if runs else None


def test_confirmed_upfront_deletes_in_batches(world, cli, flow_env):
    assert cli("grant", "alice", "profiles:view", "profiles:edit").exit_code == 0
    result = delete_segment_profiles(
        segment_key="pro", actor="alice", confirm_name="Pro plan", expected=3, batch_size=2
    )
    assert result["status"] == "completed" and result["deleted_profiles"] == 3 and result["batches"] == 2
    assert _count(world, "attributes->>'plan' = 'pro'") == 0 and _count(world, "true") == 7


def test_paused_for_approval_then_resumed(world, cli, flow_env):
    assert cli("grant", "alice", "profiles:view", "profiles:edit").exit_code == 0
    worker, states = _in_thread(segment_key="fr", actor="alice")
    flow_run_id = wait_for(lambda: _paused_run(flow_env, "delete-profiles fr"), 60, "the approval form")
    resume_flow_run(flow_run_id, run_input={"segment_name": "France", "expected_count": 4})
    worker.join(60)
    assert states and states[0].is_completed(), states
    assert states[0].result()["deleted_profiles"] == 4 and _count(world, "attributes->>'country' = 'FR'") == 0


def test_no_approval_in_time_cancels(world, cli, flow_env):
    assert cli("grant", "alice", "profiles:view", "profiles:edit").exit_code == 0
    state = delete_segment_profiles(segment_key="fr", actor="alice", approval_timeout_s=2, return_state=True)
    assert state.is_cancelled()
    assert _count(world, "attributes->>'country' = 'FR'") == 4
    with world.connect() as conn:
        job = conn.execute(sa.text("SELECT state, error FROM segpipe.deletion_jobs")).one()
    assert job.state == "refused" and "no approval within 2 s" in job.error


def _job(engine):
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT * FROM segpipe.deletion_jobs ORDER BY created_at DESC LIMIT 1")).one()


def _steps(engine, job_id) -> list[str]:
    with engine.connect() as conn:
        query = sa.text("SELECT step FROM segpipe.deletion_audit WHERE job_id = :j ORDER BY id")
        return list(conn.execute(query, {"j": job_id}).scalars())


def test_dry_run_never_pauses(world, cli, flow_env):
    assert cli("grant", "alice", "profiles:view", "profiles:edit").exit_code == 0
    state = delete_segment_profiles(segment_key="fr", actor="alice", dry_run=True, return_state=True)
    assert state.is_completed(), state
    result = state.result()
    assert result["status"] == "previewed" and result["matched"] == 4 and result["deleted_profiles"] == 0
    assert [line.split(":")[0] for line in result["plan"]] == ["1. freeze-manifest", "2. preview"]
    assert _count(world, "attributes->>'country' = 'FR'") == 4
    history = api(flow_env, "GET", "/flow_run_states/", params={"flow_run_id": str(state.state_details.flow_run_id)})
    assert history and not any(s["type"] == "PAUSED" for s in history)


def test_cancelling_a_paused_run_cancels_the_job(world, cli, flow_env):
    assert cli("grant", "alice", "profiles:view", "profiles:edit").exit_code == 0
    worker, states = _in_thread(segment_key="fr", actor="alice", approval_timeout_s=120)
    flow_run_id = wait_for(lambda: _paused_run(flow_env, "delete-profiles fr"), 60, "the approval form")
    api(flow_env, "POST", f"/flow_runs/{flow_run_id}/set_state", json={"state": {"type": "CANCELLING"}})
    worker.join(60)
    assert states and states[0].is_cancelled(), states
    job = _job(world)
    assert job.state == "cancelled" and job.flow_run_id == flow_run_id and job.deleted_profiles == 0
    assert _steps(world, job.id)[-1] == "cancelled"
    assert _count(world, "attributes->>'country' = 'FR'") == 4
    flow_run = api(flow_env, "GET", f"/flow_runs/{flow_run_id}")
    assert flow_run["state"]["type"] == "CANCELLED"


def test_held_by_the_flow_then_carried_out_by_the_scheduled_flow(world, cli, flow_env):
    assert cli("grant", "alice", "profiles:view", "profiles:edit").exit_code == 0
    held = delete_segment_profiles(segment_key="fr", actor="alice", confirm_name="France", expected=4, hold_days=2)
    assert held["status"] == "held" and held["deleted_profiles"] == 0
    assert run_due_deletions() == []
    with world.begin() as conn:
        conn.execute(sa.text("UPDATE segpipe.deletion_jobs SET execute_after = now() - interval '1 second'"))
    done = run_due_deletions()
    assert [(r["job_id"], r["status"], r["deleted_profiles"]) for r in done] == [(held["job_id"], "completed", 4)]
    assert _count(world, "attributes->>'country' = 'FR'") == 0


def test_cancelling_a_running_deletion_keeps_committed_batches_and_stops(world, cli, flow_env):
    """Batch 2 waits on a row lock the test holds (on its profile), so the run is cancelled while it deletes: batches 1
    and 2 commit, 3 and 4 never start."""
    assert cli("grant", "alice", "profiles:view", "profiles:edit").exit_code == 0
    with world.connect() as conn:
        query = "SELECT external_id FROM segpipe.profiles WHERE attributes->>'country' = 'FR' ORDER BY id"
        french = list(conn.execute(sa.text(query)).scalars())  # batches of 1 follow the profile ids
    blocker = world.connect()
    blocker.execute(sa.text("SELECT 1 FROM segpipe.profiles WHERE external_id = :x FOR UPDATE"), {"x": french[1]})
    try:
        worker, states = _in_thread(segment_key="fr", actor="alice", confirm_name="France", expected=4, batch_size=1)
        wait_for(lambda: _batches_audited(world) == [1], 60, "the first batch")
        flow_run_id = _job(world).flow_run_id
        api(flow_env, "POST", f"/flow_runs/{flow_run_id}/set_state", json={"state": {"type": "CANCELLING"}})
    finally:
        blocker.rollback()
        blocker.close()
    worker.join(60)
    assert states and states[0].is_cancelled(), states
    job = _job(world)
    assert job.state == "cancelled" and job.deleted_profiles == 2
    assert _existing(world, french) == set(french[2:])
    steps = _steps(world, job.id)
    assert steps[-3:] == ["batch", "batch", "cancelled"]
    with world.connect() as conn:
        detail = conn.execute(
            sa.text("SELECT detail FROM segpipe.deletion_audit WHERE job_id = :j AND step = 'cancelled'"), {"j": job.id}
        ).scalar_one()
    assert detail["batches_deleted"] == [1, 2] and detail["tables"]["profiles"] == 2


def _batches_audited(engine) -> list[int]:
    """Batches audited for the jobs of this test (the audit keeps earlier tests' rows; the jobs table does not)."""
    with engine.connect() as conn:
        query = sa.text(
            "SELECT (a.detail->>'batch_no')::int FROM segpipe.deletion_audit a"
            " JOIN segpipe.deletion_jobs j ON j.id = a.job_id WHERE a.step = 'batch' ORDER BY a.id"
        )
        return list(conn.execute(query).scalars())


def _existing(engine, ids: list[str]) -> set[str]:
    with engine.connect() as conn:
        query = sa.text("SELECT external_id FROM segpipe.profiles WHERE external_id = ANY(:ids)")
        return set(conn.execute(query, {"ids": ids}).scalars())
