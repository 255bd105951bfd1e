"""`segment history`, `segment deactivate` and YAML `keep_active` through the CLI (docs/lifecycle.md)."""

from __future__ import annotations

import sqlalchemy as sa

from tests.lifecycle.helpers import apply, classify, created_at, later, run_json, segment_doc, show


def test_history_lists_definition_changes_with_actor_and_diff(cli, clean, tmp_path) -> None:
    """apply records the session's role; an admin acting `--actor alice` is recorded as both."""
    for value in ("gold", "platinum"):
        path = tmp_path / f"{value}.yaml"
        path.write_text(segment_doc("vip", f"{{attribute: tier, op: eq, value: {value}}}"))
        assert cli("apply", path).exit_code == 0
    assert cli("grant", "alice", "segments:edit").exit_code == 0
    assert cli("segment", "rename", "vip", "Very important", "--actor", "alice").exit_code == 0
    assert cli("segment", "clone", "vip", "vip2", "--actor", "alice").exit_code == 0
    data = run_json(cli, "segment", "history", "vip")
    changes = [(d["version"], d["change"], d["changed_by"]) for d in data["definitions"]]
    me = _session_user(clean)
    alice = f"{me} on behalf of alice"
    assert changes == [(3, "renamed", alice), (2, "updated", me), (1, "created", me)]
    updated = data["definitions"][1]
    assert "-  value: gold" in updated["diff"] and "+  value: platinum" in updated["diff"]
    assert updated["previous"]["rules"]["value"] == "gold" and updated["definition"]["rules"]["value"] == "platinum"
    assert "+name: Very important" in data["definitions"][0]["diff"]
    assert run_json(cli, "segment", "history", "vip2")["definitions"][0]["change"] == "cloned"
    text = cli("segment", "history", "vip")
    assert text.exit_code == 0 and "v2 updated" in text.stdout and f"by {alice}" in text.stdout


def test_unchanged_apply_writes_no_history_and_delete_keeps_it(cli, clean, tmp_path) -> None:
    apply(cli, tmp_path, segment_doc("temp"))
    apply(cli, tmp_path, segment_doc("temp"))
    assert len(run_json(cli, "segment", "history", "temp")["definitions"]) == 1
    assert cli("segment", "delete", "temp", "--yes").exit_code == 0
    data = run_json(cli, "segment", "history", "temp")
    assert data["deleted"] is True and [d["change"] for d in data["definitions"]] == ["deleted", "created"]
    assert cli("segment", "history", "never-was").exit_code == 2


def test_history_lists_refresh_runs(cli, clean, tmp_path) -> None:
    apply(cli, tmp_path, segment_doc("runs"))
    for as_of in ("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"):
        assert cli("refresh", "runs", "--as-of", as_of).exit_code == 0
    rows = run_json(cli, "segment", "history", "runs")["refreshes"]
    assert [r["as_of"][:10] for r in rows] == ["2026-01-02", "2026-01-01"]
    first = rows[0]
    assert first["status"] == "succeeded" and first["trigger"] and first["member_count"] == 0
    assert {"added", "removed", "duration_ms", "mode", "flow_run_id", "run_id"} <= set(first)
    assert "refreshes of runs" in cli("segment", "history", "runs").stdout


def test_deactivate_is_immediate_and_audited(cli, clean, tmp_path) -> None:
    apply(cli, tmp_path, segment_doc("a") + segment_doc("b", name="Bee"))
    assert cli("grant", "ops", "segments:edit").exit_code == 0
    rows = run_json(cli, "segment", "deactivate", "a", "b", "--actor", "ops")
    assert [(r["key"], r["outcome"]) for r in rows] == [("a", "deactivated"), ("b", "deactivated")]
    assert show(cli, "a")["status"] == "inactive"
    again = run_json(cli, "segment", "deactivate", "a")
    assert again[0]["outcome"] == "unchanged"
    with clean.connect() as conn:
        events = conn.execute(
            sa.text(
                "SELECT e.action, e.actor FROM segpipe.segment_events e JOIN segpipe.segments s ON s.id = e.segment_id"
                " WHERE s.key = 'a'"
            )
        ).all()
        changes = conn.execute(
            sa.text(
                "SELECT c.new_status, c.reason FROM segpipe.segment_status_changes c"
                " JOIN segpipe.segments s ON s.id = c.segment_id WHERE s.key = 'a' ORDER BY c.id"
            )
        ).all()
    ops = f"{_session_user(clean)} on behalf of ops"
    assert events == [("deactivated", ops)]
    assert changes[-1] == ("inactive", f"deactivated by {ops}")
    refreshed = {r["key"]: r["status"] for r in run_json(cli, "refresh", "--all")}
    assert refreshed == {"a": "skipped", "b": "skipped"}
    assert cli("segment", "deactivate", "nope").exit_code == 2
    assert run_json(cli, "segment", "resume", "a")[0]["status"] == "active"


def test_deactivating_a_segment_in_live_use_says_classify_reactivates(cli, clean, tmp_path) -> None:
    apply(cli, tmp_path, segment_doc("live") + "kind: Campaign\nkey: c1\nstatus: scheduled\ninclude: [live]\n")
    row = run_json(cli, "segment", "deactivate", "live")[0]
    assert row["outcome"] == "deactivated" and "classify makes it active again" in row["message"]


def test_keep_active_exempts_from_automatic_inactivation(cli, clean, tmp_path) -> None:
    keep = "kind: Segment\nkey: keep\nname: Keep\nkeep_active: true\nrules: {event: login}\n---\n"
    apply(cli, tmp_path, keep + segment_doc("drop"))
    rows = classify(cli, later(created_at(cli, "keep"), 60))
    assert rows["keep"]["status"] == "active" and "keep_active" in rows["keep"]["reason"]
    assert show(cli, "keep")["keep_active"] is True and show(cli, "drop")["keep_active"] is False
    assert rows["drop"]["status"] == "inactive"
    plan = run_json(cli, "apply", _write(tmp_path, keep.replace("true", "false")))
    assert plan["objects"][0]["action"] == "updated" and plan["objects"][0]["changes"] == ["keep_active"]
    rows = classify(cli, later(created_at(cli, "keep"), 60))
    assert rows["keep"]["status"] == "inactive"
    bad = cli("apply", _write(tmp_path, keep.replace("true", "'yes'")))
    assert bad.exit_code == 2 and "keep_active" in bad.stderr


def _write(folder, text: str):
    path = folder / "keep.yaml"
    path.write_text(text)
    return path


def _session_user(engine: sa.Engine) -> str:
    with engine.connect() as conn:
        return str(conn.execute(sa.text("SELECT session_user")).scalar_one())
