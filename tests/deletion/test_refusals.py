"""Every refusal deletes nothing: wrong name, wrong count, too large a share, missing permission, unknown segment,
bad arguments; a dry run deletes nothing either."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from tests.deletion.helpers import delete_args, output_json, snapshot


def _job(engine, job_id):
    with engine.connect() as conn:
        job = conn.execute(sa.text("SELECT * FROM segpipe.deletion_jobs WHERE id = :j"), {"j": job_id}).one()
        steps = conn.execute(
            sa.text("SELECT step, detail FROM segpipe.deletion_audit WHERE job_id = :j ORDER BY id"), {"j": job_id}
        ).all()
    return job, steps


@pytest.mark.parametrize(
    ("args", "gate"),
    [
        (delete_args(name="german customers"), "confirmation"),
        (delete_args(name="German customers "), "confirmation"),
        (delete_args(expect=5), "quality"),
        (delete_args(expect=7), "quality"),
        (delete_args("--max-share", "0.25", key="buyers", name="Buyers", expect=20), "quality"),
        (delete_args(key="buyers", name="Buyers", expect=20), "quality"),
        ([*delete_args()[:-1], "bob"], "permission"),
        ([*delete_args()[:-1], "nobody"], "permission"),
    ],
)
def test_refused_gate_exits_3_deletes_nothing_and_is_audited(world, cli, args, gate):
    before = snapshot(world)
    result = cli(*args, "--json")
    assert result.exit_code == 3, result.output
    error = output_json(result)
    assert error["gate"] == gate and error["status"] == "refused" and error["deleted_profiles"] == 0
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
    assert snapshot(world) == before
    job, steps = _job(world, error["job_id"])
    assert job.state == "refused" and job.deleted_profiles == 0
    assert [s.step for s in steps][-1] in ("refused", "gate")
    assert not any(s.step == "batch" for s in steps)


def test_count_mismatch_shows_the_failed_expectations(world, cli):
    result = cli(*delete_args(expect=5))
    assert result.exit_code == 3
    assert "expected_count" in result.stdout and "FAILED" in result.stdout
    assert "expected = 5 rows, observed 6" in result.stderr


def test_quality_report_is_stored_with_the_job(world, cli):
    error = output_json(cli(*delete_args("--json", key="buyers", name="Buyers", expect=20)))
    failed = {c["name"] for c in error["details"]["checks"] if not c["success"]}
    assert failed == {"max_share"}
    job, steps = _job(world, error["job_id"])
    assert job.gate["success"] is False and job.matched == 20
    gate = next(s for s in steps if s.step == "gate")
    assert gate.detail["passed"] is False


def test_tolerance_accepts_a_near_count(world, cli):
    result = cli(*delete_args("--dry-run", "--tolerance", "1", "--json", expect=5))
    assert result.exit_code == 0, result.output
    assert output_json(result)["status"] == "previewed"


def test_unknown_segment_exits_2(world, cli):
    before = snapshot(world)
    result = cli(*delete_args(key="nope"))
    assert result.exit_code == 2 and "unknown segment 'nope'" in result.stderr
    assert snapshot(world) == before


@pytest.mark.parametrize(
    "args",
    [
        ["delete-profiles", "de", "--expect", "6", "--actor", "alice"],
        ["delete-profiles", "de", "--confirm", "German customers", "--actor", "alice"],
        ["delete-profiles", "de", "--confirm", "German customers", "--expect", "6"],
        delete_args("--batch-size", "0"),
        delete_args("--max-share", "1.5"),
        delete_args("--tolerance", "-1"),
        delete_args(expect=-1),
        delete_args("--job", "not-a-uuid"),
    ],
)
def test_usage_errors_exit_2_and_delete_nothing(world, cli, args):
    before = snapshot(world)
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert snapshot(world) == before


def test_dry_run_reports_and_deletes_nothing(world, cli):
    before = snapshot(world)
    result = cli(*delete_args("--dry-run", "--json"))
    assert result.exit_code == 0, result.output
    data = output_json(result)
    assert data["status"] == "previewed" and data["matched"] == 6 and data["deleted_profiles"] == 0
    preview = data["preview"]
    assert preview["count"] == 6 and preview["sample"] == ["u01", "u02", "u03", "u04", "u05", "u06"]
    assert preview["tables"] == {
        "profiles": 6,
        "events": 18,
        "event_ids": 18,
        "subscriptions": 6,
        "memberships": 6 + 6 + 6,
        "snapshot_members": 6,
        "activity": 12,
    }
    assert snapshot(world) == before
    human = cli(*delete_args("--dry-run"))
    assert "would delete 6 profiles" in human.stdout and "Nothing was deleted" in human.stdout


def test_refused_and_previewed_jobs_cannot_be_resumed_into_a_deletion(world, cli):
    dry = output_json(cli(*delete_args("--dry-run", "--json")))
    before = snapshot(world)
    again = cli(*delete_args("--job", dry["job_id"], "--json"))
    assert again.exit_code == 0 and output_json(again)["status"] == "previewed"
    refused = output_json(cli(*delete_args("--json", expect=5)))
    result = cli(*delete_args("--job", refused["job_id"], expect=5))
    assert result.exit_code == 3
    assert snapshot(world) == before
    assert json.loads(cli("deletion", "show", refused["job_id"], "--json").stdout)["status"] == "refused"
