"""`segpipe presend`: the audience (contract §3), the snapshot, the GX gate; direct and through the flow."""

from __future__ import annotations

import json

import sqlalchemy as sa

from tests.flows.helpers import AUDIENCE, api, last_json, snapshot_members, snapshot_row


def test_presend_snapshots_the_audience_and_refuses_a_big_change(world, cli):
    first = cli("presend", "bf", "--json")
    assert first.exit_code == 0, first.output
    data = last_json(first)
    assert data["campaign"] == "bf" and data["count"] == len(AUDIENCE) and data["status"] == "ready"
    assert snapshot_members(world, data["snapshot_id"]) == AUDIENCE
    with world.begin() as conn:
        conn.execute(sa.text("UPDATE segpipe.profiles SET attributes = '{}' WHERE external_id BETWEEN 'u05' AND 'u08'"))
        conn.execute(sa.text("SELECT nextval('segpipe.data_version')"))
    refused = cli("presend", "bf", "--json")
    assert refused.exit_code == 3, refused.output
    error = last_json(refused)
    assert error["gate"] == "quality" and "change" in error["error"]
    row = snapshot_row(world, error["details"]["snapshot_id"])
    assert row["status"] == "refused" and row["member_count"] == 2 and "change" in row["reason"]
    wider = cli("presend", "bf", "--max-change", "0.9", "--json")
    assert wider.exit_code == 0, wider.output
    assert last_json(wider)["previous_snapshot_id"] == data["snapshot_id"]


def test_snapshots_are_immutable(world, cli):
    snapshot_id = last_json(cli("presend", "bf", "--json"))["snapshot_id"]
    for statement in (
        "UPDATE segpipe.audience_snapshots SET member_count = 1 WHERE id = :s",
        "UPDATE segpipe.snapshot_members SET profile_id = 0 WHERE snapshot_id = :s",
        "INSERT INTO segpipe.snapshot_members SELECT :s, id FROM segpipe.profiles WHERE external_id = 'u01'",
        "DELETE FROM segpipe.audience_snapshots WHERE id = :s",
    ):
        with world.connect() as conn:
            try:
                conn.execute(sa.text(statement), {"s": snapshot_id})
            except sa.exc.DBAPIError as exc:
                assert "segpipe" in str(exc.orig)
            else:
                raise AssertionError(f"not refused: {statement}")


def test_presend_refusals_and_empty_audience(world, cli):
    unknown = cli("presend", "nope", "--json")
    assert unknown.exit_code == 2 and "unknown campaign 'nope'" in last_json(unknown)["error"]
    assert cli("presend", "bf", "--max-change", "-1").exit_code == 2
    with world.begin() as conn:
        conn.execute(sa.text("UPDATE segpipe.consumers SET status = 'sent' WHERE key = 'bf'"))
    sent = cli("presend", "bf", "--json")
    assert sent.exit_code == 3 and last_json(sent)["gate"] == "campaign-status"
    with world.begin() as conn:
        conn.execute(sa.text("UPDATE segpipe.consumers SET status = 'draft' WHERE key = 'bf'"))
        conn.execute(sa.text("UPDATE segpipe.profiles SET attributes = '{}'"))
        conn.execute(sa.text("SELECT nextval('segpipe.data_version')"))
    empty = cli("presend", "bf", "--json")
    assert empty.exit_code == 3 and "not_empty" in last_json(empty)["error"]
    allowed = cli("presend", "bf", "--allow-empty", "--json")
    assert allowed.exit_code == 0 and last_json(allowed)["count"] == 0


def test_presend_through_the_flow_matches_direct(world, cli, flow_env):
    prefect = {"SEGPIPE_ORCHESTRATION": "prefect"}
    result = cli("presend", "bf", "--as-of", "2026-03-01T00:00:00Z", "--json", env=prefect)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # stdout holds the JSON only; Prefect logs to stderr
    assert data["count"] == len(AUDIENCE) and data["as_of"] == "2026-03-01T00:00:00+00:00"
    row = snapshot_row(world, data["snapshot_id"])
    assert row["status"] == "ready" and row["flow_run_id"]
    artifacts = api(
        flow_env, "POST", "/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [row["flow_run_id"]]}}}
    )
    assert {"presend-bf", "presend-bf-checks", "presend-bf-segments", "presend-bf-progress"} <= {
        a["key"] for a in artifacts
    }
    direct = last_json(cli("presend", "bf", "--as-of", "2026-03-01T00:00:00Z", "--json"))
    assert direct.keys() == data.keys() and direct["count"] == data["count"]
    assert direct["previous_snapshot_id"] == data["snapshot_id"]
    unknown = cli("presend", "nope", "--json", env=prefect)
    assert unknown.exit_code == 2 and "unknown campaign 'nope'" in last_json(unknown)["error"]
