"""The real `segpipe` command run as real login roles: every allowance and denial of docs/security.md."""

from __future__ import annotations

import json

import sqlalchemy as sa

from tests.security.conftest import profiles_file, write

SEGMENT = """
    kind: Segment
    key: bronze
    name: Bronze
    rules: {attribute: tier, op: eq, value: bronze}
"""


def _json(result) -> object:
    return json.loads(result.stdout)


def _refused(result, gate: str) -> dict:
    assert result.exit_code == 3, result.output
    data = _json(result)
    assert data["gate"] == gate, data
    return data


def test_reader_lists_and_shows_but_cannot_load(world, as_role, engine):
    assert [row["key"] for row in _json(as_role("reader", "segment", "list", "--json"))] == ["gold", "silver"]
    shown = as_role("reader", "segment", "show", "gold", "--json")
    assert shown.exit_code == 0 and _json(shown)["key"] == "gold"
    assert as_role("reader", "segment", "usage", "gold", "--json").exit_code == 0
    assert as_role("reader", "segment", "trend", "gold", "--json").exit_code == 0
    assert as_role("reader", "campaign", "stats", "promo", "--json").exit_code == 0
    assert as_role("reader", "segment", "members", "gold", "--no-refresh", "--format", "csv").exit_code == 0
    loaded = as_role("reader", "load", "profiles", profiles_file(world, ["r1"]), "--json")
    assert "permission denied" in _refused(loaded, "permission")["error"]
    assert _refused(as_role("reader", "refresh", "gold", "--json"), "permission")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM segpipe.profiles WHERE external_id = 'r1'")).scalar() == 0


def test_operator_loads_refreshes_classifies_but_cannot_apply_segments(world, as_role, cli, logins):
    assert as_role("operator", "load", "profiles", profiles_file(world, ["o1", "o2"])).exit_code == 0
    refreshed = as_role("operator", "refresh", "gold", "--json")
    assert refreshed.exit_code == 0, refreshed.output
    assert as_role("operator", "refresh", "--all").exit_code == 0
    assert as_role("operator", "classify").exit_code == 0
    presend = as_role("operator", "presend", "promo", "--json")
    assert presend.exit_code == 0, presend.output
    assert _json(presend)["count"] == 5
    path = write(world, "bronze.yaml", SEGMENT)
    missing = _refused(as_role("operator", "apply", path, "--json"), "permission")
    assert "segments:edit" in missing["error"] and logins["operator"].name in missing["error"]
    # With the grant, Postgres still refuses: an operator's role may not write definitions.
    assert cli("grant", logins["operator"].name, "segments:edit").exit_code == 0
    assert "permission denied" in _refused(as_role("operator", "apply", path, "--json"), "permission")["error"]
    assert as_role("operator", "segment", "show", "bronze").exit_code == 2


def test_editor_needs_segments_edit_then_applies_and_runs_lifecycle(world, as_role, cli, logins, audit):
    editor = logins["editor"].name
    path = write(world, "bronze.yaml", SEGMENT)
    for args in (("apply", path), ("segment", "archive", "gold"), ("segment", "rename", "gold", "Golden")):
        refused = _refused(as_role("editor", *args, "--json"), "permission")
        assert f"actor '{editor}' lacks segments:edit" in refused["error"], refused
    assert [row["gate"] for row in audit(editor)] == ["permission"] * 3
    assert cli("grant", editor, "segments:edit").exit_code == 0
    assert as_role("editor", "apply", path).exit_code == 0
    assert as_role("editor", "segment", "archive", "gold").exit_code == 0
    assert as_role("editor", "segment", "rename", "gold", "Golden").exit_code == 0
    assert as_role("editor", "segment", "clone", "silver", "silver-2").exit_code == 0
    assert as_role("editor", "segment", "delete", "silver-2", "--yes").exit_code == 0
    shown = _json(as_role("editor", "segment", "show", "gold", "--json"))
    assert [(e["action"], e["actor"]) for e in shown["events"]] == [("archived", editor), ("renamed", editor)]


def test_non_admin_grant_is_refused_and_audited(world, as_role, logins, engine, audit):
    editor = logins["editor"].name
    for command in ("grant", "revoke"):
        refused = _refused(as_role("editor", command, editor, "profiles:edit", "--json"), "permission")
        assert "not an admin" in refused["error"]
    rows = audit(editor)
    assert [(r["gate"], r["command"]) for r in rows] == [("admin", "grant"), ("admin", "revoke")]
    with engine.connect() as conn:
        assert (
            conn.execute(sa.text("SELECT count(*) FROM segpipe.grants WHERE actor = :a"), {"a": editor}).scalar() == 0
        )


def test_non_admin_acting_for_someone_else_is_refused_and_audited(world, as_role, cli, logins, audit):
    editor = logins["editor"].name
    assert cli("grant", editor, "segments:edit").exit_code == 0
    refused = _refused(as_role("editor", "segment", "archive", "gold", "--actor", "mallory", "--json"), "actor")
    assert "may not act as 'mallory'" in refused["error"]
    refused = _refused(as_role("editor", "grant", "mallory", "profiles:edit", "--by", "mallory", "--json"), "actor")
    assert [(r["gate"], r["claimed_actor"]) for r in audit(editor)] == [
        ("actor", "mallory"),
        ("actor", "mallory"),
    ]
    # Naming yourself is fine for anyone.
    assert as_role("editor", "segment", "archive", "gold", "--actor", editor).exit_code == 0
    assert _json(cli("segment", "show", "gold", "--json"))["archived"] is True


def test_admin_acts_on_behalf_and_both_names_are_recorded(world, as_role, cli, logins, engine):
    admin, editor = logins["admin"].name, logins["editor"].name
    # On behalf of someone, that actor's grants count (the admin's implicit segments:edit does not).
    refused = _refused(as_role("admin", "segment", "archive", "gold", "--actor", editor, "--json"), "permission")
    assert f"actor '{editor}' lacks segments:edit" in refused["error"]
    granted = as_role("admin", "grant", editor, "segments:edit", "--by", "ops-team", "--json")
    assert granted.exit_code == 0, granted.output
    assert as_role("admin", "segment", "archive", "gold", "--actor", editor).exit_code == 0
    assert as_role("admin", "segment", "unarchive", "gold").exit_code == 0  # as itself: implicit segments:edit
    shown = _json(cli("segment", "show", "gold", "--json"))
    assert [(e["action"], e["actor"]) for e in shown["events"]] == [
        ("archived", f"{admin} on behalf of {editor}"),
        ("unarchived", admin),
    ]
    with engine.connect() as conn:
        audit = conn.execute(
            sa.text("SELECT changed_by, on_behalf_of FROM segpipe.grant_audit WHERE actor = :a AND changed_by = :b"),
            {"a": editor, "b": admin},
        ).all()
    assert audit == [(admin, "ops-team")]


def test_profile_deletion_needs_explicit_grants_even_for_admins(world, as_role, cli, logins):
    admin = logins["admin"].name
    args = ("delete-profiles", "gold", "--confirm", "Gold", "--expect", "3", "--max-share", "1", "--dry-run", "--json")
    refused = _refused(as_role("admin", *args, "--actor", admin), "permission")
    assert "profiles:view" in refused["error"] and "profiles:edit" in refused["error"]
    assert as_role("admin", "grant", admin, "profiles:*").exit_code == 0
    previewed = as_role("admin", *args, "--actor", admin)
    assert previewed.exit_code == 0, previewed.output
    assert _json(previewed)["status"] == "previewed"
    # A non-admin may not name someone else as the deleting actor.
    assert _refused(as_role("operator", *args, "--actor", admin), "actor")


def test_permissions_lists_grants(world, as_role, cli, logins):
    assert cli("grant", "ana", "profiles:*").exit_code == 0
    assert cli("grant", "bo", "segments:edit").exit_code == 0
    listed = _json(as_role("reader", "permissions", "--json"))
    assert listed == [
        {"actor": "ana", "permissions": ["profiles:edit", "profiles:view"], "admin": False},
        {"actor": "bo", "permissions": ["segments:edit"], "admin": False},
    ]
    one = _json(as_role("reader", "permissions", logins["admin"].name, "--json"))
    assert one == {"actor": logins["admin"].name, "permissions": [], "admin": True}
    table = cli("permissions")
    assert table.exit_code == 0 and "ana" in table.stdout and "segments:edit" in table.stdout
