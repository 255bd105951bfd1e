"""Issue 11.4-5 through Prefect (real server): a held refresh fails its flow run and emits `segpipe.segment.held`
(never `refreshed`); `accept_drop` publishes; a rewind is refused unless `rewind`, whose events say so; the
pre-send flow at a past as_of snapshots an evaluation and leaves live membership alone."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from flows.presend import presend_refresh
from flows.refresh import refresh_segments
from segpipe.errors import GateRefused
from tests.flows.helpers import AUDIENCE, api, last_json, snapshot_members, wait_for, write_jsonl
from tests.refresh.helpers import members

PAST, LIVE, LATER = "2026-03-01T00:00:00Z", "2026-06-01T00:00:00Z", "2026-07-01T00:00:00Z"
HELD = "refresh held: de would remove 5 of 6 members (83.3% > max_drop 50%); rerun with --accept-drop"


def _events(server: Any, name: str, key: str, state: Any) -> list[dict[str, Any]]:
    """Events `name` of segment `key` emitted by the flow run of `state` (the server is shared by the session)."""
    body = {"filter": {"event": {"name": [name]}, "resource": {"id": [f"segpipe.segment.{key}"]}}, "limit": 50}
    found = api(server, "POST", "/events/filter", json=body)["events"]
    flow_run = f"prefect.flow-run.{state.state_details.flow_run_id}"
    return [e for e in found if any(r["prefect.resource.id"] == flow_run for r in e["related"])]


def _statuses(state: Any) -> dict[str, tuple[str, str | None]]:
    return {s["key"]: (s["status"], s["reason"]) for s in state.result(raise_on_failure=False)["segments"]}


def _drop_de(cli: Any, folder: Any) -> None:
    """u02-u06 move to France: `de` (live through campaign bf) would lose 5 of its 6 members."""
    rows = [{"external_id": f"u{i:02d}", "attributes": {"country": "FR"}} for i in range(2, 7)]
    assert cli("load", "profiles", str(write_jsonl(folder / "moved.jsonl", rows))).exit_code == 0


def test_a_held_refresh_fails_the_flow_and_emits_held_until_accepted(world, cli, flow_env, tmp_path):
    assert refresh_segments(keys=["de", "de-pro"], as_of=LIVE, return_state=True).is_completed()
    _drop_de(cli, tmp_path)
    through_cli = cli("refresh", "de", "--as-of", LATER, "--json", env={"SEGPIPE_ORCHESTRATION": "prefect"})
    assert through_cli.exit_code == 3, through_cli.output
    assert through_cli.stderr.strip() == f"error: {HELD}"
    assert last_json(through_cli)[0]["status"] == "held"

    state = refresh_segments(keys=["de", "de-pro"], as_of=LATER, return_state=True)
    assert state.is_failed() and state.message == HELD
    statuses = _statuses(state)
    assert statuses["de"][0] == "held" and statuses["de-pro"] == ("skipped", "dependency held")
    held = wait_for(lambda: _events(flow_env, "segpipe.segment.held", "de", state), 20, "the held event")
    payload = held[0]["payload"]
    assert (payload["status"], payload["member_count"], payload["added"], payload["removed"]) == ("held", 1, 0, 5)
    assert _events(flow_env, "segpipe.segment.refreshed", "de", state) == []
    with world.connect() as conn:
        assert len(members(conn, "de")) == 6

    accepted = refresh_segments(keys=["de"], as_of=LATER, accept_drop=True, return_state=True)
    assert accepted.is_completed(), accepted.message
    assert _statuses(accepted)["de"][0] == "succeeded"
    with world.connect() as conn:
        assert members(conn, "de") == {"u01"}


def test_a_rewind_is_refused_unless_asked_and_then_announced(world, flow_env):
    assert refresh_segments(keys=["fr"], as_of=LIVE, return_state=True).is_completed()
    refused = refresh_segments(keys=["fr"], as_of=PAST, return_state=True)
    assert refused.is_failed()
    error = refused.result(raise_on_failure=False)
    assert isinstance(error, GateRefused) and error.gate == "rewind" and "2026-06-01" in str(error)
    rewound = refresh_segments(keys=["fr"], as_of=PAST, rewind=True, return_state=True)
    assert rewound.is_completed(), rewound.message
    data = rewound.result(raise_on_failure=False)
    assert data["rewind"] is True
    events = wait_for(lambda: _events(flow_env, "segpipe.segment.refreshed", "fr", rewound), 20, "an event")
    assert events[0]["payload"]["rewind"] is True


def test_the_presend_flow_at_a_past_as_of_leaves_live_membership_alone(world, flow_env):
    assert refresh_segments(keys=["de", "fr", "pro"], as_of=LIVE, return_state=True).is_completed()
    query = sa.text(
        "SELECT key, member_count, last_refresh_as_of, last_refreshed_at FROM segpipe.segments ORDER BY key"
    )
    with world.connect() as conn:
        live = conn.execute(query).all()
        runs = conn.execute(sa.text("SELECT count(*) FROM segpipe.refresh_runs")).scalar_one()
    result = presend_refresh(campaign_key="bf", as_of=PAST)
    assert result["refresh_run_id"] is None and result["as_of"].startswith("2026-03-01")
    assert snapshot_members(world, result["snapshot_id"]) == AUDIENCE
    with world.connect() as conn:
        assert conn.execute(query).all() == live
        assert conn.execute(sa.text("SELECT count(*) FROM segpipe.refresh_runs")).scalar_one() == runs
