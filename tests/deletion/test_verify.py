"""Verification after the batches: stragglers are swept (audited), lost activity fails the job."""

from __future__ import annotations

import sqlalchemy as sa

from segpipe.deletion import DeletionRequest, freeze_manifest, plan_deletion, run_batches, run_gate, verify
from tests.deletion.helpers import delete_args, output_json, profile_ids


def _deleted_up_to_verify(engine):
    ids = profile_ids(engine, ["u01"])
    plan = plan_deletion(engine, DeletionRequest("de", "alice", 6, "German customers", batch_size=4))
    freeze_manifest(engine, plan.job_id)
    run_gate(engine, plan.job_id)
    run_batches(engine, plan.job_id)
    return plan.job_id, ids["u01"]


def _steps(engine, job_id):
    with engine.connect() as conn:
        query = sa.text("SELECT step FROM segpipe.deletion_audit WHERE job_id = :j ORDER BY id")
        return list(conn.execute(query, {"j": job_id}).scalars())


def test_a_straggler_written_after_its_batch_is_swept(world):
    job_id, old_id = _deleted_up_to_verify(world)
    with world.begin() as conn:  # a load that resolved u01 before its deletion commits its event afterwards
        conn.execute(
            sa.text("INSERT INTO segpipe.events (profile_id, name, occurred_at) VALUES (:p, 'late', now())"),
            {"p": old_id},
        )
    result = verify(world, job_id)
    assert result.ok and result.swept == {"events": 1} and result.remaining == {}
    assert _steps(world, job_id)[-4:] == ["batch", "sweep", "verified", "completed"]


def test_lost_activity_fails_the_job(world, cli):
    job_id, _ = _deleted_up_to_verify(world)
    with world.begin() as conn:
        conn.execute(sa.text("DELETE FROM segpipe.activity WHERE id = (SELECT min(id) FROM segpipe.activity)"))
    result = verify(world, job_id)
    assert not result.ok and result.activity_changed == [{"campaign": "bf", "kind": "sent", "before": 20, "after": 19}]
    assert _steps(world, job_id)[-2:] == ["verified", "failed"]
    again = cli(*delete_args("--job", str(job_id), "--json"))
    assert again.exit_code == 1 and output_json(again)["status"] == "failed"
    assert "verification failed" in again.stderr
