"""Refresh flows against the real server: what runs, in which order, what the UI gets, and the CLI's two modes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa

from flows.classify import classify_inactive
from flows.refresh import refresh_all, refresh_segments, scheduled_refresh
from segpipe.db.engine import lock_id
from tests.flows.helpers import api, last_json, wait_for


def _payload(state):
    return state.result(raise_on_failure=False)


def _statuses(payload) -> dict[str, tuple[str, str | None]]:
    return {s["key"]: (s["status"], s["reason"]) for s in payload["segments"]}


def test_refresh_all_skips_inactive_and_reports(world, flow_env):
    with world.begin() as conn:
        conn.execute(sa.text("UPDATE segpipe.segments SET status = 'inactive' WHERE key = 'fr'"))
        conn.execute(sa.text("UPDATE segpipe.segments SET archived = true WHERE key IN ('de', 'de-pro')"))
    state = refresh_all(return_state=True)
    assert state.is_completed()
    statuses = _statuses(_payload(state))
    assert statuses["fr"] == ("skipped", "inactive")
    assert statuses["de-pro"] == ("skipped", "archived")
    assert statuses["de"][0] == statuses["pro"][0] == "succeeded"  # de: archived, but campaign bf references it
    flow_run_id = str(state.state_details.flow_run_id)
    flow_run = api(flow_env, "GET", f"/flow_runs/{flow_run_id}")
    assert flow_run["name"] == "refresh-all"
    artifacts = api(flow_env, "POST", "/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}})
    by_type = {(a["type"], a["key"]): a for a in artifacts}
    assert by_type[("progress", "refresh-progress")]["data"] == 100.0
    table = by_type[("table", "refresh-segments")]["data"]
    assert "members" in table and "added" in table and "took" in table
    assert ("markdown", "refresh-summary") in by_type
    events = wait_for(lambda: _events(flow_env, "segpipe.segment.refreshed", "segpipe.segment.de"), 20, "an event")
    assert events[0]["payload"]["status"] == "succeeded"


def _events(server, name: str, resource_id: str) -> list:
    body = {"filter": {"event": {"name": [name]}, "resource": {"id": [resource_id]}}, "limit": 5}
    return api(server, "POST", "/events/filter", json=body)["events"]


def test_dependencies_first_and_a_failure_skips_dependents(world, flow_env):
    with world.begin() as conn:
        conn.execute(sa.text("UPDATE segpipe.segments SET rules = '{\"bogus\": 1}' WHERE key = 'pro'"))
    state = refresh_segments(keys=["de-pro"], return_state=True, concurrency=2)
    assert state.is_failed() and "pro" in state.message
    statuses = _statuses(_payload(state))
    assert statuses["pro"][0] == "failed" and statuses["de"][0] == "succeeded"
    assert statuses["de-pro"] == ("skipped", "dependency pro failed")
    state = refresh_segments(keys=["de", "fr"], return_state=True)
    assert state.is_completed()
    name = api(flow_env, "GET", f"/flow_runs/{state.state_details.flow_run_id}")["name"]
    assert name == "refresh-segments de, fr"


def test_dependents_start_after_their_dependencies_finish(world, flow_env):
    state = refresh_segments(keys=["de-pro", "fr"], force=True, return_state=True)
    run_id = _payload(state)["run_id"]
    with world.connect() as conn:
        times = {
            key: (started, finished)
            for key, started, finished in conn.execute(
                sa.text(
                    "SELECT s.key, r.started_at, r.finished_at FROM segpipe.segment_refreshes r"
                    " JOIN segpipe.segments s ON s.id = r.segment_id WHERE r.run_id = :r"
                ),
                {"r": run_id},
            )
        }
    assert times["de-pro"][0] >= max(times["de"][1], times["pro"][1])


def test_scheduled_refresh_never_piles_up(world, flow_env, engine):
    with engine.connect() as holder:
        assert holder.execute(sa.select(sa.func.pg_try_advisory_lock(lock_id("scheduled-refresh")))).scalar()
        holder.commit()
        skipped = scheduled_refresh(return_state=True)
        holder.execute(sa.select(sa.func.pg_advisory_unlock(lock_id("scheduled-refresh"))))
        holder.commit()
    assert skipped.is_completed() and skipped.name == "Skipped"
    with world.begin() as conn:
        conn.execute(
            sa.text("UPDATE segpipe.segments SET deactivate_at = now() - interval '1 minute' WHERE key = 'fr'")
        )
    state = scheduled_refresh(return_state=True)
    assert state.is_completed() and state.name == "Completed"
    assert _statuses(_payload(state))["fr"] == ("skipped", "inactive")


def test_classify_flow(world, flow_env):
    rows = classify_inactive()
    assert {row["key"] for row in rows} == {"de", "fr", "pro", "de-pro"}
    assert all(row["status"] == "active" for row in rows)


def test_cli_refresh_output_is_the_same_both_ways(world, cli, flow_env):
    outputs = {}
    for mode in ("direct", "prefect"):
        env = {"SEGPIPE_ORCHESTRATION": mode}
        result = cli("refresh", "--all", "--force", "--as-of", "2026-03-01T00:00:00Z", "--json", env=env)
        assert result.exit_code == 0, result.output
        outputs[mode] = [
            {k: v for k, v in row.items() if k not in ("run_id", "duration_ms", "added")} for row in last_json(result)
        ]
    assert outputs["direct"] == outputs["prefect"]
    by_name = {"flow_runs": {"name": {"like_": "refresh-all as of 2026-03-01"}}}
    runs = api(flow_env, "POST", "/flow_runs/filter", json=by_name)
    assert runs, "the CLI's run is in Prefect"
    unknown = cli("refresh", "nope", "--json", env={"SEGPIPE_ORCHESTRATION": "prefect"})
    assert unknown.exit_code == 2 and "unknown segment 'nope'" in last_json(unknown)["error"]


EVENT_SEGMENTS = """
kind: Segment
key: buyers
name: Buyers
rules: {event: purchase}
---
kind: Segment
key: big-buyers
name: Big buyers
rules: {event: purchase, aggregate: sum, property: amount, op: gte, value: 100}
"""


def test_concurrent_segments_sharing_an_event_scan(world, cli, flow_env, tmp_path):
    events = [
        {
            "external_id": f"u{i:02d}",
            "event": "purchase",
            "occurred_at": f"2026-01-0{1 + i % 5}T00:00:00Z",
            "properties": {"amount": 40 * i},
        }
        for i in range(1, 8)
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    assert cli("load", "events", str(path)).exit_code == 0
    (tmp_path / "events.yaml").write_text(EVENT_SEGMENTS)
    assert cli("apply", str(tmp_path / "events.yaml")).exit_code == 0
    direct = last_json(cli("refresh", "--all", "--force", "--as-of", "2026-03-01T00:00:00Z", "--json"))
    state = refresh_all(as_of=datetime(2026, 3, 1, tzinfo=UTC), force=True, return_state=True)
    assert state.is_completed(), state.message
    counts = {s["key"]: s["member_count"] for s in _payload(state)["segments"]}
    assert counts == {row["key"]: row["member_count"] for row in direct}
    assert counts["buyers"] == 7 and counts["big-buyers"] == 5
