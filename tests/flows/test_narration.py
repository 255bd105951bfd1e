"""Runs that narrate (issue 13.3), through the CLI and the session's real Prefect server: run logs in the API,
state messages, a refused presend without a traceback, and presend's checks in text and JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from tests.flows.helpers import AUDIENCE, api, last_json, wait_for

PREFECT = {"SEGPIPE_ORCHESTRATION": "prefect"}


def _logs(server, flow_run_id: str) -> list[str]:
    logs = api(server, "POST", "/logs/filter", json={"logs": {"flow_run_id": {"any_": [flow_run_id]}}})
    return [entry["message"] for entry in logs]


def _flow_run(server, flow_run_id: str) -> dict:
    return api(server, "GET", f"/flow_runs/{flow_run_id}")


def test_a_refresh_run_logs_each_step_and_sets_its_state_message(world, cli, flow_env):
    result = cli("refresh", "--all", "--json", env=PREFECT)
    assert result.exit_code == 0, result.output
    run_id = json.loads(result.stdout)[0]["run_id"]
    with world.connect() as conn:
        flow_run_id = conn.execute(
            sa.text("SELECT flow_run_id FROM segpipe.refresh_runs WHERE id = :r"), {"r": run_id}
        ).scalar_one()

    def complete() -> list[str] | None:
        lines = _logs(flow_env, flow_run_id)
        return lines if any(line.startswith(f"refresh run {run_id} closed") for line in lines) else None

    lines = wait_for(complete, 30, "the refresh run's logs")
    text = "\n".join(lines)
    assert f"refresh run {run_id} (cli) as of" in text and "planned in" in text
    assert "de: succeeded" in text and "6 members (+6 / -0)" in text and " ms" in text
    assert "de-pro: succeeded" in text
    state = _flow_run(flow_env, flow_run_id)["state"]
    assert state["type"] == "COMPLETED"
    assert state["message"].startswith(f"refresh run {run_id} as of") and "succeeded" in state["message"]


def test_a_refused_presend_fails_with_one_line_and_no_traceback(world, cli, flow_env):
    with world.begin() as conn:
        conn.execute(sa.text("UPDATE segpipe.consumers SET status = 'sent' WHERE key = 'bf'"))
    refused = cli("presend", "bf", "--json", env=PREFECT)
    assert refused.exit_code == 3 and last_json(refused)["gate"] == "campaign-status"
    runs = api(
        flow_env,
        "POST",
        "/flow_runs/filter",
        json={"flow_runs": {"name": {"any_": ["presend bf"]}}, "sort": "START_TIME_DESC", "limit": 1},
    )
    run = runs[0]
    assert run["state"]["type"] == "FAILED"
    message = run["state"]["message"]
    assert "campaign 'bf'" in message and "\n" not in message and "Traceback" not in message

    def refusal_logged() -> list[str] | None:
        lines = _logs(flow_env, run["id"])
        return lines if any(line.startswith("refused: campaign 'bf'") for line in lines) else None

    lines = wait_for(refusal_logged, 30, "the refused presend's logs")
    assert not any("Traceback" in line for line in lines), lines


def test_presend_prints_its_checks_in_text_and_json(world, cli, flow_env):
    data = json.loads(cli("presend", "bf", "--json", env=PREFECT).stdout)
    checks = {c["name"]: c for c in data["checks"]}
    assert checks and all({"name", "expected", "observed", "success"} <= set(c) for c in checks.values())
    assert all(c["success"] for c in checks.values())
    run = api(
        flow_env,
        "POST",
        "/flow_runs/filter",
        json={"flow_runs": {"name": {"any_": ["presend bf"]}}, "sort": "START_TIME_DESC", "limit": 1},
    )[0]
    assert run["state"]["message"].startswith(f"snapshot {data['snapshot_id']}: {len(AUDIENCE)} members of bf")
    text = cli("presend", "bf")
    assert text.exit_code == 0, text.output
    for name in checks:
        assert f"ok   {name}: expected " in text.stdout
    assert ">=" not in text.stdout


def test_a_refused_audience_shows_its_checks(world, cli):
    with world.begin() as conn:
        conn.execute(sa.text("UPDATE segpipe.profiles SET attributes = '{}'"))
        conn.execute(sa.text("SELECT nextval('segpipe.data_version')"))
    refused = cli("presend", "bf", "--json")
    assert refused.exit_code == 3
    checks = {c["name"]: c for c in last_json(refused)["details"]["checks"]}
    assert checks["not_empty"]["success"] is False and checks["not_empty"]["observed"] == 0
    text = cli("presend", "bf")
    assert text.exit_code == 3 and "FAIL not_empty: expected ≥ 1, observed 0" in text.stderr


def test_classification_changes_emit_events_and_a_state_message(world, flow_env):
    from flows.classify import classify_inactive

    since = datetime.now(UTC) - timedelta(seconds=5)
    state = classify_inactive(grace_days=0, return_state=True)
    assert state.is_completed()
    changed = [row["key"] for row in state.result() if row["changed"]]
    assert changed and all(f"{key} → inactive" in state.message for key in changed[:5]), state.message
    body = {
        "filter": {
            "event": {"name": ["segpipe.segment.inactive"]},
            "resource": {"id": [f"segpipe.segment.{key}" for key in changed]},
            "occurred": {"since": since.isoformat()},
        }
    }

    def received() -> list | None:
        events = api(flow_env, "POST", "/events/filter", json=body)["events"]
        return events if len(events) == len(changed) else None

    events = wait_for(received, 30, "the classification events")
    assert {e["payload"]["old_status"] for e in events} == {"active"}
    assert all(
        e["payload"]["message"].startswith(f"segment '{e['resource']['prefect.resource.name']}' is now inactive")
        for e in events
    )


def _events(server, name: str, resource: str) -> list[dict]:
    body = {"filter": {"event": {"name": [name]}, "resource": {"id": [resource]}}}
    return api(server, "POST", "/events/filter", json=body)["events"]


def test_a_deletion_narrates_emits_events_and_refuses_without_traceback(world, cli, flow_env):
    from flows.delete_profiles import delete_segment_profiles

    refused = delete_segment_profiles(segment_key="fr", actor="nobody-here", dry_run=True, return_state=True)
    assert refused.is_failed() and "\n" not in refused.message and "Traceback" not in refused.message
    refused_logs = wait_for(lambda: _logs(flow_env, str(refused.state_details.flow_run_id)), 30, "refusal logs")
    assert not any("Traceback" in line for line in refused_logs), refused_logs
    assert cli("grant", "alice", "profiles:view", "profiles:edit").exit_code == 0
    state = delete_segment_profiles(segment_key="fr", actor="alice", dry_run=True, return_state=True)
    assert state.is_completed(), state
    job = state.result()["job_id"]
    assert state.message == f"deletion job {job} of segment 'fr' previewed: 4 profiles would be deleted (dry run)"
    resource = f"segpipe.deletion.{job}"
    started = wait_for(lambda: _events(flow_env, "segpipe.deletion.started", resource), 30, "the started event")
    ended = wait_for(lambda: _events(flow_env, "segpipe.deletion.completed", resource), 30, "the completed event")
    assert started[0]["payload"]["dry_run"] is True and ended[0]["payload"]["status"] == "previewed"
    assert ended[0]["related"][0]["prefect.resource.id"] == "segpipe.segment.fr"
    lines = wait_for(lambda: _logs(flow_env, str(state.state_details.flow_run_id)), 30, "the deletion's logs")
    assert any(line.startswith(f"deletion job {job} planned: segment fr, actor alice") for line in lines), lines
