"""Exactness when the segment changes between preview and run; kill -9 mid-deletion and resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from segpipe.db.engine import is_locked
from segpipe.deletion import DeletionRequest, delete_batch, plan_deletion, resume
from segpipe.deletion.manifest import freeze_manifest
from tests.deletion.helpers import add_profile, delete_args, external_ids, output_json, profile_ids, snapshot

ROOT = Path(__file__).resolve().parents[2]


def _set_country(engine, external_id, country):
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE segpipe.profiles SET attributes = jsonb_build_object('country', CAST(:c AS text))"
                " WHERE external_id = :x"
            ),
            {"c": country, "x": external_id},
        )
        conn.execute(sa.text("SELECT nextval('segpipe.data_version')"))


def _add_german(engine, external_id):
    with engine.begin() as conn:
        add_profile(conn, external_id, {"country": "DE"}, events=1)
        conn.execute(sa.text("SELECT nextval('segpipe.data_version')"))


def _existing(engine, ids):
    return set(profile_ids(engine, ids))


def test_count_seen_no_longer_matches_after_a_change(world, cli):
    assert output_json(cli(*delete_args("--dry-run", "--json")))["matched"] == 6
    _add_german(world, "u21")
    before = snapshot(world)
    result = cli(*delete_args("--json"))
    assert result.exit_code == 3 and output_json(result)["matched"] == 7
    after = snapshot(world)
    assert set(after.pop("memberships")) >= set(before.pop("memberships"))  # the refresh added u21
    assert after == before


def test_same_count_different_members_deletes_exactly_the_fresh_members(world, cli):
    assert output_json(cli(*delete_args("--dry-run", "--json")))["matched"] == 6
    _add_german(world, "u21")
    _set_country(world, "u06", "FR")
    result = cli(*delete_args("--json"))
    assert result.exit_code == 0, result.output
    assert output_json(result)["deleted_profiles"] == 6
    everyone = [*external_ids(20), "u21"]
    assert _existing(world, everyone) == set(everyone) - {"u01", "u02", "u03", "u04", "u05", "u21"}


def test_retried_batch_is_harmless(world):
    plan = plan_deletion(world, DeletionRequest("de", "alice", 6, "German customers", batch_size=4))
    freeze_manifest(world, plan.job_id)
    from segpipe.deletion import run_gate

    run_gate(world, plan.job_id)
    first = delete_batch(world, plan.job_id, 1)
    again = delete_batch(world, plan.job_id, 1)
    assert first.profiles == 4 and not first.already_done
    assert again.already_done and again.profiles == 0
    result = resume(world, plan.job_id)
    assert result.status == "completed" and result.deleted_profiles == 6 and result.tables["profiles"] == 6
    with world.connect() as conn:
        batches = conn.execute(
            sa.text("SELECT detail->'batch_no' FROM segpipe.deletion_audit WHERE job_id = :j AND step = 'batch'"),
            {"j": plan.job_id},
        ).scalars()
        assert sorted(batches) == [1, 2]


def test_job_killed_before_its_gate_is_frozen_again_on_resume(world, cli):
    plan = plan_deletion(world, DeletionRequest("de", "alice", 7, "German customers"))
    freeze_manifest(world, plan.job_id)  # then "killed": the lock is gone, the segment changes
    _add_german(world, "u21")
    result = cli(*delete_args("--job", str(plan.job_id), "--json", expect=7))
    assert result.exit_code == 0, result.output
    assert output_json(result)["deleted_profiles"] == 7
    assert not _existing(world, [*external_ids(6), "u21"])


def _wait_for_deleted_batches(engine, process, minimum):
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            done = conn.execute(
                sa.text("SELECT count(DISTINCT batch_no) FROM segpipe.deletion_manifest WHERE deleted")
            ).scalar_one()
        if done >= minimum:
            return
        assert process.poll() is None, process.stdout.read()
        time.sleep(0.05)
    raise AssertionError("the deletion did not start in time")


def test_kill_minus_9_mid_deletion_then_resume(world, cli, db_url):
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.deletion.slow_deletion", db_url, "de", "German customers", "6"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for_deleted_batches(world, process, 1)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    with world.connect() as conn:
        job_id, state, deleted = conn.execute(
            sa.text("SELECT id, state, deleted_profiles FROM segpipe.deletion_jobs")
        ).one()
    assert state == "deleting" and 2 <= deleted < 6
    _add_german(world, "u22")  # joins the segment after the manifest was frozen: never deleted by this job
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with world.connect() as conn:
            if not is_locked(conn, "deletion", str(job_id)):
                break
        time.sleep(0.1)
    result = cli(*delete_args("--job", str(job_id), "--json"))
    assert result.exit_code == 0, result.output
    data = output_json(result)
    assert data["status"] == "completed" and data["deleted_profiles"] == 6 and data["tables"]["profiles"] == 6
    assert data["tables"]["events"] == 18 and data["verification"]["ok"]
    assert _existing(world, [*external_ids(22)]) == set(external_ids(20)[6:]) | {"u22"}
    with world.connect() as conn:
        steps = conn.execute(
            sa.text("SELECT step, detail FROM segpipe.deletion_audit WHERE job_id = :j ORDER BY id"), {"j": job_id}
        ).all()
    batches = [s.detail["batch_no"] for s in steps if s.step == "batch"]
    assert sorted(batches) == [1, 2, 3]
    assert [s.step for s in steps].count("resumed") == 1 and [s.step for s in steps][-1] == "completed"


def test_the_segment_is_locked_against_edits_and_a_busy_segment_is_refused(world, cli, tmp_path):
    from segpipe.deletion.locks import segment_lock

    edited = tmp_path / "edit.yaml"
    edited.write_text(
        "kind: Segment\nkey: de\nname: German customers\nrules: {attribute: country, op: eq, value: AT}\n"
    )
    with world.connect() as conn, segment_lock(conn, "de"):
        assert cli("apply", str(edited)).exit_code == 3  # what a running deletion holds: no rule edits
        before = snapshot(world)
        busy = cli(*delete_args("--json"))
        assert busy.exit_code == 3 and output_json(busy)["gate"] == "refresh-in-progress"
        assert snapshot(world) == before
    assert cli("apply", str(edited)).exit_code == 0
