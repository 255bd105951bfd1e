"""Archive, unarchive, protected delete (prompt, --yes, exit codes), bulk forms, clone, rename."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from segpipe.cli import segment_ops
from segpipe.db.engine import lock_id
from tests.lifecycle.helpers import apply, run_json, segment_doc, show

OBJECTS = (
    segment_doc("base")
    + segment_doc("derived", "{all: [{segment: base}, {attribute: x, op: exists}]}")
    + segment_doc("free")
    + segment_doc("spare")
    + "kind: Campaign\nkey: bf\nchannel: email\nstatus: draft\ninclude: [derived]\n---\n"
    + "kind: Report\nkey: funnel\nsegments: [derived]\n"
)


@pytest.fixture()
def objects(cli, clean, tmp_path):
    apply(cli, tmp_path, OBJECTS)


def _keys(rows):
    return [row["key"] for row in rows]


def test_archive_leaves_default_list_but_stays_in_usage(cli, objects):
    assert run_json(cli, "segment", "archive", "base") == [{"key": "base", "outcome": "archived", "ok": True}]
    assert "base" not in _keys(run_json(cli, "segment", "list"))
    assert _keys(run_json(cli, "segment", "list", "--status", "archived")) == ["base"]
    assert "base" in _keys(run_json(cli, "segment", "list", "--status", "all"))
    assert {"kind": "segment", "key": "base"} in [
        {"kind": u["kind"], "key": u["key"]}
        for u in run_json(cli, "segment", "usage", "--of", "campaign:bf")["segments"]
    ]
    data = show(cli, "base")
    assert data["archived"] is True and data["status"] == "active"
    assert [e["action"] for e in data["events"]] == ["archived"]
    assert run_json(cli, "segment", "archive", "base")[0]["outcome"] == "unchanged"
    assert run_json(cli, "segment", "unarchive", "base")[0]["outcome"] == "unarchived"
    assert "base" in _keys(run_json(cli, "segment", "list"))


def test_bulk_archive_reports_per_key_and_exit_2_on_unknown(cli, objects):
    data = run_json(cli, "segment", "archive", "free", "nope", "spare", code=2)
    assert [(r["key"], r["outcome"]) for r in data["results"]] == [
        ("free", "archived"),
        ("nope", "unknown"),
        ("spare", "archived"),
    ]
    assert data["error"] == "unknown segment 'nope'"
    assert show(cli, "free")["archived"] and show(cli, "spare")["archived"]


def test_protected_delete_lists_each_reference_and_exits_3(cli, objects):
    result = cli("segment", "delete", "derived", "--yes")
    assert result.exit_code == 3
    assert result.stderr.count("\n") == 1
    for reference in ("campaign bf (include)", "report funnel (uses)"):
        assert reference in result.stderr
    result = cli("segment", "delete", "base", "--yes", "--json")
    data = json.loads(result.stdout)
    assert result.exit_code == 3 and data["gate"] == "referenced"
    assert data["results"][0]["details"] == [{"kind": "segment", "key": "derived", "role": "rules"}]
    assert show(cli, "base")["key"] == "base"


def test_delete_without_yes_on_a_pipe_is_exit_2(cli, objects):
    result = cli("segment", "delete", "free")
    assert result.exit_code == 2
    assert "--yes" in result.stderr
    assert show(cli, "free")["key"] == "free"


def test_delete_asks_on_a_terminal(cli, objects, monkeypatch):
    monkeypatch.setattr(segment_ops, "stdin_is_terminal", lambda: True)
    declined = cli("segment", "delete", "free", input="n\n")
    assert declined.exit_code == 3
    assert show(cli, "free")["key"] == "free"
    assert cli("grant", "ana", "segments:edit").exit_code == 0  # an admin acts for ana: ana's grants count
    accepted = cli("segment", "delete", "free", "--actor", "ana", input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert "Delete 1 segment(s) (free)" in accepted.stdout
    assert cli("segment", "show", "free").exit_code == 2


def test_delete_removes_members_and_history_and_records_who(cli, objects, engine, tmp_path):
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO segpipe.profiles (external_id) VALUES ('p1');"
            " INSERT INTO segpipe.memberships (segment_id, profile_id)"
            " SELECT s.id, p.id FROM segpipe.segments s, segpipe.profiles p WHERE s.key = 'free';"
            " INSERT INTO segpipe.segment_counts (segment_id, member_count, source)"
            " SELECT id, 1, 'refresh' FROM segpipe.segments WHERE key = 'free'"
        )
    assert cli("grant", "ana", "segments:edit").exit_code == 0
    assert run_json(cli, "segment", "delete", "free", "--yes", "--actor", "ana")[0]["outcome"] == "deleted"
    with engine.connect() as conn:
        tombstone = conn.exec_driver_sql("SELECT key, name, actor FROM segpipe.segment_deletions").all()
        left = conn.exec_driver_sql(
            "SELECT (SELECT count(*) FROM segpipe.memberships) + (SELECT count(*) FROM segpipe.segment_counts)"
        ).scalar()
    # Both names: the authenticated role and the actor it acted for (docs/security.md).
    assert tombstone == [("free", "Free", f"{engine.url.username} on behalf of ana")]
    assert left == 0
    # The key is free again: apply creates a new segment, with a history of its own.
    apply(cli, tmp_path, segment_doc("free"))
    assert [h["reason"] for h in show(cli, "free")["history"]] == ["created by apply"]


def test_bulk_delete_deletes_free_keys_and_exits_3_for_refused(cli, objects):
    data = run_json(cli, "segment", "delete", "base", "free", "nope", "spare", "--yes", code=3)
    assert [(r["key"], r["outcome"]) for r in data["results"]] == [
        ("base", "refused"),
        ("free", "deleted"),
        ("nope", "unknown"),
        ("spare", "deleted"),
    ]
    assert _keys(run_json(cli, "segment", "list", "--status", "all")) == ["base", "derived"]


def test_delete_refused_while_refreshing(cli, objects, engine):
    with engine.connect() as holder:
        holder.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": lock_id("refresh", "free")})
        data = run_json(cli, "segment", "delete", "free", "--yes", code=3)
        assert show(cli, "free")["refresh_running"] is True
        holder.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": lock_id("refresh", "free")})
    assert data["gate"] == "refresh-in-progress"
    assert show(cli, "free")["refresh_running"] is False


def test_clone_has_same_rules_and_fresh_history(cli, objects, engine):
    run_json(cli, "segment", "archive", "derived")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE segpipe.segments SET member_count = 7, last_refreshed_at = now() WHERE key = 'derived';"
            " INSERT INTO segpipe.segment_counts (segment_id, member_count, source)"
            " SELECT id, 7, 'refresh' FROM segpipe.segments WHERE key = 'derived'"
        )
    data = run_json(cli, "segment", "clone", "derived", "derived-2")
    assert (data["key"], data["name"], data["status"], data["archived"]) == (
        "derived-2",
        "Derived (copy)",
        "active",
        False,
    )
    assert data["member_count"] is None and data["last_refreshed_at"] is None and data["usage"] == []
    clone, original = show(cli, "derived-2"), show(cli, "derived")
    assert clone["rules"] == original["rules"] and clone["references"] == ["base"]
    assert clone["trend"]["points"] == [] and clone["last_refresh"] is None
    assert [h["reason"] for h in clone["history"]] == ["cloned from derived"]
    assert {"kind": "segment", "key": "derived-2"} in [
        {"kind": u["kind"], "key": u["key"]} for u in show(cli, "base")["usage"]
    ]
    assert run_json(cli, "segment", "clone", "derived", "derived-3")["name"] == "Derived (copy 2)"
    assert run_json(cli, "segment", "clone", "free", "free-2", "--name", "Mine")["name"] == "Mine"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("free", "base"), "segment 'base' already exists"),
        (("free", "Bad Key"), "invalid segment key"),
        (("free", "free-9", "--name", "Base"), "name 'Base' is already used by segment 'base'"),
        (("nope", "nope-2"), "unknown segment 'nope'"),
    ],
)
def test_clone_refusals_exit_2(cli, objects, args, fragment):
    result = cli("segment", "clone", *args)
    assert result.exit_code == 2
    assert fragment in result.stderr


def test_rename(cli, objects):
    assert run_json(cli, "segment", "rename", "free", "Free for all")["outcome"] == "renamed"
    assert show(cli, "free")["name"] == "Free for all"
    assert run_json(cli, "segment", "rename", "free", "Free for all")["outcome"] == "unchanged"
    clash = cli("segment", "rename", "free", "Base")
    assert clash.exit_code == 2
    assert "name 'Base' is already used by segment 'base'" in clash.stderr
    assert cli("segment", "rename", "free", " padded").exit_code == 2
    assert cli("segment", "rename", "nope", "X").exit_code == 2
    events = show(cli, "free")["events"]
    assert events[-1]["action"] == "renamed" and events[-1]["detail"] == {"from": "Free", "to": "Free for all"}
