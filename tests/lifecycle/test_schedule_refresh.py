"""Scheduled activation/deactivation, and the lifecycle's meeting points with the refresh engine:
refresh-all skips inactive segments, resume refreshes at once, archived segments still refresh while referenced."""

from __future__ import annotations

from datetime import timedelta

import pytest

from segpipe.lifecycle.schedule import apply_due_schedules, keys_to_refresh
from segpipe.timeutil import parse_timestamp
from tests.lifecycle.helpers import apply, classify, created_at, later, load_profiles, run_json, segment_doc, show

PROFILES = [
    {"external_id": "p1", "attributes": {"tier": "gold"}},
    {"external_id": "p2", "attributes": {"tier": "gold", "x": 1}},
    {"external_id": "p3", "attributes": {"tier": "silver"}},
]


@pytest.fixture()
def data(cli, clean, tmp_path):
    load_profiles(cli, tmp_path, PROFILES)
    apply(
        cli,
        tmp_path,
        segment_doc("gold")
        + segment_doc("gold-x", "{all: [{segment: gold}, {attribute: x, op: exists}]}")
        + segment_doc("silver", "{attribute: tier, op: eq, value: silver}")
        + segment_doc("idle", "{attribute: tier, op: exists}"),
    )


def _refresh_all(cli):
    return {row["key"]: row for row in run_json(cli, "refresh", "--all")}


def test_schedule_set_show_clear(cli, data):
    out = run_json(cli, "segment", "schedule", "idle", "--deactivate-at", "2031-01-01T00:00:00Z")
    assert out == {"key": "idle", "activate_at": None, "deactivate_at": "2031-01-01T00:00:00+00:00"}
    run_json(cli, "segment", "schedule", "idle", "--activate-at", "2031-02-01T00:00:00Z")
    assert show(cli, "idle")["schedule"] == {
        "activate_at": "2031-02-01T00:00:00+00:00",
        "deactivate_at": "2031-01-01T00:00:00+00:00",
    }
    assert "activate at 2031-02-01 00:00 UTC" in cli("segment", "show", "idle").stdout
    run_json(cli, "segment", "schedule", "idle", "--clear")
    assert show(cli, "idle")["schedule"] == {"activate_at": None, "deactivate_at": None}
    assert [e["action"] for e in show(cli, "idle")["events"]] == ["scheduled", "scheduled", "schedule_cleared"]


@pytest.mark.parametrize(
    "args",
    [
        ("idle",),
        ("idle", "--clear", "--activate-at", "2031-01-01"),
        ("idle", "--activate-at", "2031-01-01", "--deactivate-at", "2031-01-01T00:00:00Z"),
        ("idle", "--activate-at", "next week"),
        ("nope", "--activate-at", "2031-01-01"),
    ],
)
def test_schedule_refusals_exit_2(cli, data, args):
    assert cli("segment", "schedule", *args).exit_code == 2


def test_due_schedules_are_carried_out(cli, data, engine):
    start = created_at(cli, "idle")
    off, on = later(start, 1), later(start, 2)
    run_json(cli, "segment", "schedule", "idle", "--deactivate-at", off.isoformat(), "--activate-at", on.isoformat())
    with engine.begin() as conn:
        assert apply_due_schedules(conn, off - timedelta(seconds=1)) == []
        changes = apply_due_schedules(conn, off)
    assert [(c.key, c.action, c.old_status, c.status) for c in changes] == [
        ("idle", "deactivate", "active", "inactive")
    ]
    data = show(cli, "idle")
    assert (data["status"], data["status_reason"]) == ("inactive", "scheduled deactivation")
    assert data["schedule"] == {"activate_at": on.isoformat(), "deactivate_at": None}
    assert data["history"][-1]["reason"] == "scheduled deactivation"
    with engine.begin() as conn:
        changes = apply_due_schedules(conn, later(start, 3))
    assert keys_to_refresh(changes) == ["idle"]
    data = show(cli, "idle")
    assert (data["status"], data["status_reason"]) == ("active", "scheduled activation")
    assert data["last_resumed_at"] is not None


def test_classify_carries_out_schedules_and_refreshes_activated(cli, data):
    start = created_at(cli, "idle")
    run_json(cli, "segment", "schedule", "silver", "--deactivate-at", later(start, 1).isoformat())
    rows = classify(cli, later(start, 1))
    assert rows["silver"]["status"] == "inactive"
    assert rows["silver"]["schedule"][0]["reason"] == "scheduled deactivation"
    run_json(cli, "segment", "schedule", "silver", "--activate-at", later(start, 2).isoformat())
    rows = classify(cli, later(start, 2))
    assert (rows["silver"]["old_status"], rows["silver"]["status"]) == ("inactive", "active")
    assert rows["silver"]["refresh"]["status"] == "succeeded"
    assert rows["silver"]["refresh"]["member_count"] == 1
    # The activation counts as a resume: the grace period starts again from it.
    assert classify(cli, later(start, 16))["silver"]["status"] == "active"
    assert classify(cli, later(start, 16.1))["silver"]["status"] == "inactive"


def test_refresh_all_skips_inactive_segments(cli, data):
    classify(cli, later(created_at(cli, "idle"), 30))
    rows = _refresh_all(cli)
    assert {key: row["status"] for key, row in rows.items()} == {key: "skipped" for key in rows}
    assert len(rows) == 4


def test_resume_makes_active_and_refreshes(cli, data):
    start = created_at(cli, "idle")
    classify(cli, later(start, 30))
    assert cli("grant", "ana", "segments:edit").exit_code == 0  # an admin acts for ana: ana's grants count
    out = run_json(cli, "segment", "resume", "gold-x", "--actor", "ana")
    assert [(r["key"], r["outcome"], r["status"]) for r in out] == [("gold-x", "resumed", "active")]
    assert out[0]["refresh"]["status"] == "succeeded" and out[0]["refresh"]["member_count"] == 1
    shown = show(cli, "gold-x")
    assert (shown["status"], shown["member_count"]) == ("active", 1)
    assert shown["status_reason"].startswith("resumed by ") and shown["status_reason"].endswith(" on behalf of ana")
    assert shown["last_refresh"]["status"] == "succeeded"
    # The dependency was refreshed too, but stays inactive (nothing uses it live).
    assert show(cli, "gold")["member_count"] == 2 and show(cli, "gold")["status"] == "inactive"
    # The resume happened "after" the classification as of start+30: the grace period counts from there.
    assert parse_timestamp(shown["last_resumed_at"]) >= later(start, 30)
    assert classify(cli, later(start, 30))["gold-x"]["status"] == "active"
    assert classify(cli, later(start, 45))["gold-x"]["status"] == "inactive"


def test_bulk_resume_reports_per_key(cli, data):
    classify(cli, later(created_at(cli, "idle"), 30))
    out = run_json(cli, "segment", "resume", "silver", "nope", "idle", code=2)
    assert [(r["key"], r["outcome"]) for r in out["results"]] == [
        ("silver", "resumed"),
        ("nope", "unknown"),
        ("idle", "resumed"),
    ]
    assert out["results"][0]["refresh"]["member_count"] == 1
    assert out["results"][2]["refresh"]["member_count"] == 3


def test_archived_segments_refresh_while_referenced(cli, data, tmp_path):
    apply(cli, tmp_path, "kind: Campaign\nkey: bf\nchannel: email\nstatus: scheduled\ninclude: [silver, gold-x]\n")
    run_json(cli, "segment", "archive", "silver", "gold", "idle")
    rows = _refresh_all(cli)
    assert rows["silver"]["status"] == "succeeded"  # archived, used by a campaign
    assert rows["gold"]["status"] == "succeeded"  # archived, referenced by gold-x's rules
    assert rows["idle"]["status"] == "skipped"  # archived, referenced by nothing
    assert show(cli, "gold")["member_count"] == 2
