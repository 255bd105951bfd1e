"""Operating deletion jobs: list, cancel (held or mid-run), hold then run when due, the plan as explained."""

from __future__ import annotations

import sqlalchemy as sa

from segpipe.deletion import DeletionRequest, delete_batch, freeze_manifest, plan_deletion, resume, run_gate
from segpipe.deletion.jobs import require_job
from segpipe.deletion.stages import PLAN, explain
from tests.deletion.helpers import delete_args, external_ids, output_json

GERMANS = external_ids(6)


def _existing(engine, ids: list[str]) -> set[str]:
    with engine.connect() as conn:
        query = sa.text("SELECT external_id FROM segpipe.profiles WHERE external_id = ANY(:ids)")
        return set(conn.execute(query, {"ids": ids}).scalars())


def _steps(engine, job_id) -> list[str]:
    with engine.connect() as conn:
        query = sa.text("SELECT step FROM segpipe.deletion_audit WHERE job_id = :j ORDER BY id")
        return list(conn.execute(query, {"j": job_id}).scalars())


def _make_due(engine, job_id: str) -> None:
    """Time passes: the hold is over."""
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE segpipe.deletion_jobs SET execute_after = now() - interval '1 minute' WHERE id = :j"),
            {"j": job_id},
        )


def test_list_newest_first(world, cli):
    dry = output_json(cli(*delete_args("--dry-run", "--json")))
    real = output_json(cli(*delete_args("--json")))
    listed = output_json(cli("deletion", "list", "--json"))
    assert [row["job_id"] for row in listed] == [real["job_id"], dry["job_id"]]
    assert listed[0] | {"created_at": None} == {
        "job_id": real["job_id"],
        "segment_key": "de",
        "actor": "alice",
        "state": "completed",
        "matched": 6,
        "deleted_profiles": 6,
        "created_at": None,
        "execute_after": None,
        "dry_run": False,
    }
    assert listed[1]["state"] == "previewed" and listed[1]["deleted_profiles"] == 0
    human = cli("deletion", "list")
    assert human.exit_code == 0 and "previewed (dry run)" in human.stdout


def test_dry_run_explains_the_stages_it_would_run(world, cli):
    data = output_json(cli(*delete_args("--dry-run", "--json")))
    with world.connect() as conn:
        job = require_job(conn, data["job_id"])
    assert data["plan"] == explain(job)
    assert [line.split(":")[0].split(". ")[1] for line in data["plan"]] == [
        "freeze-manifest",
        "quality-gate",
        "preview",
    ]
    real = [stage.name for stage in PLAN if stage.applies(job.__class__(**{**job.__dict__, "dry_run": False}))]
    assert real == ["freeze-manifest", "quality-gate", "delete-batches", "verify"]


def test_cancel_mid_run_keeps_committed_batches_and_deletes_nothing_more(world, cli):
    plan = plan_deletion(world, DeletionRequest("de", "alice", 6, "German customers", batch_size=2))
    freeze_manifest(world, plan.job_id)
    run_gate(world, plan.job_id)
    assert delete_batch(world, plan.job_id, 1).profiles == 2
    cancelled = cli("deletion", "cancel", str(plan.job_id), "--json")
    assert cancelled.exit_code == 0, cancelled.output
    assert output_json(cancelled)["status"] == "cancelled" and output_json(cancelled)["deleted_profiles"] == 2
    result = resume(world, plan.job_id)
    assert result.status == "cancelled" and result.deleted_profiles == 2
    assert _existing(world, GERMANS) == set(GERMANS[2:])
    shown = output_json(cli("deletion", "show", str(plan.job_id), "--json"))
    assert [row["step"] for row in shown["audit"]][-3:] == ["batch", "cancelled", "resumed"]
    detail = shown["audit"][-2]["detail"]
    assert detail["batches_deleted"] == [1] and detail["tables"]["profiles"] == 2 and detail["state"] == "deleting"
    assert shown["tables"]["profiles"] == 2
    again = cli(*delete_args("--job", str(plan.job_id), "--json"))
    assert again.exit_code == 3 and output_json(again)["status"] == "cancelled"
    assert _existing(world, GERMANS) == set(GERMANS[2:])


def test_cancel_unknown_or_finished_job(world, cli):
    unknown = cli("deletion", "cancel", "00000000-0000-0000-0000-000000000000")
    assert unknown.exit_code == 2 and "unknown deletion job" in unknown.stderr
    assert cli("deletion", "cancel", "not-a-job").exit_code == 2
    done = output_json(cli(*delete_args("--json")))
    finished = cli("deletion", "cancel", done["job_id"], "--json")
    assert finished.exit_code == 3 and "already completed" in finished.stderr
    assert output_json(finished)["gate"] == "finished"


def test_hold_days_then_run_due_executes(world, cli):
    held = cli(*delete_args("--hold-days", "3", "--json"))
    assert held.exit_code == 0, held.output
    data = output_json(held)
    assert data["status"] == "held" and data["deleted_profiles"] == 0 and data["execute_after"]
    assert data["gate"]["success"] is True and _existing(world, GERMANS) == set(GERMANS)
    nothing = cli("deletion", "run-due", "--json")
    assert nothing.exit_code == 0 and output_json(nothing) == []
    _make_due(world, data["job_id"])
    ran = cli("deletion", "run-due", "--json")
    assert ran.exit_code == 0, ran.output
    assert output_json(ran) == [{"job_id": data["job_id"], "status": "completed", "deleted_profiles": 6, "error": None}]
    assert _existing(world, GERMANS) == set()
    assert _steps(world, data["job_id"])[3:] == ["held", "resumed", "released", "batch", "verified", "completed"]


def test_a_held_job_cancelled_is_never_carried_out(world, cli):
    data = output_json(cli(*delete_args("--hold-days", "1", "--json")))
    cancelled = cli("deletion", "cancel", data["job_id"])
    assert cancelled.exit_code == 0 and "nothing more will be deleted" in cancelled.stdout
    _make_due(world, data["job_id"])
    assert output_json(cli("deletion", "run-due", "--json")) == []
    assert _existing(world, GERMANS) == set(GERMANS)
    assert _steps(world, data["job_id"])[-1] == "cancelled"


def test_a_held_job_whose_actor_lost_the_permission_stays_held(world, cli):
    data = output_json(cli(*delete_args("--hold-days", "1", "--json")))
    assert cli("revoke", "alice", "profiles:edit").exit_code == 0
    _make_due(world, data["job_id"])
    refused = cli("deletion", "run-due", "--json")
    assert refused.exit_code == 1 and "lacks profiles:edit" in refused.stderr
    assert _existing(world, GERMANS) == set(GERMANS)
    assert output_json(cli("deletion", "show", data["job_id"], "--json"))["status"] == "held"


def test_hold_days_is_refused_with_a_dry_run(world, cli):
    result = cli(*delete_args("--hold-days", "1", "--dry-run"))
    assert result.exit_code == 2 and "--hold-days" in result.stderr
