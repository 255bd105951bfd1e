"""A complete deletion: what is deleted, what is anonymized, counts corrected, audit, re-identification."""

from __future__ import annotations

import hashlib
import json

import pytest
import sqlalchemy as sa

import segpipe
from segpipe.deletion.audit import SALT_SETTING, hash_external_id
from tests.deletion.helpers import delete_args, external_ids, output_json, profile_ids, rows_of, snapshot

GERMANS = external_ids(6)
OTHERS = external_ids(20)[6:]


@pytest.fixture()
def deleted(world, cli):
    """The world after `segpipe delete-profiles de` (batches of 4), with what the test needs to compare."""
    ids = profile_ids(world, GERMANS)
    others_before = {k: v for k, v in snapshot(world).items()}
    stats_before = output_json(cli("campaign", "stats", "bf", "--json"))
    result = cli(*delete_args("--batch-size", "4", "--json"))
    assert result.exit_code == 0, result.output
    return {
        "result": output_json(result),
        "ids": ids,
        "stats_before": stats_before,
        "snapshot_before": others_before,
    }


def test_result_json(deleted):
    data = deleted["result"]
    assert {k: data[k] for k in ("status", "matched", "deleted_profiles", "batches", "batches_done")} == {
        "status": "completed",
        "matched": 6,
        "deleted_profiles": 6,
        "batches": 2,
        "batches_done": 2,
    }
    assert data["tables"] == {
        "profiles": 6,
        "events": 18,
        "event_ids": 18,
        "subscriptions": 6,
        "memberships": 18,
        "snapshot_members": 6,
        "activity": 12,
    }
    assert data["verification"]["ok"] is True and data["gate"]["success"] is True


def test_no_row_of_a_deleted_profile_remains_and_others_are_untouched(deleted, world):
    gone = set(deleted["ids"].values())
    assert rows_of(world, sorted(gone)) == dict.fromkeys(
        ("profiles", "events", "event_ids", "subscriptions", "activity", "memberships", "snapshot_members"), 0
    )
    before, after = deleted["snapshot_before"], snapshot(world)
    for table, rows in before.items():
        key = "id" if table == "profiles" else "profile_id"
        kept = sorted(row for row in rows if json.loads(row)[key] not in gone)
        if table == "activity":
            after_linked = sorted(row for row in after[table] if json.loads(row)[key] is not None)
            assert after_linked == kept
        else:
            assert after[table] == kept, table


def test_activity_is_anonymized_and_campaign_stats_are_unchanged(deleted, world, cli):
    assert output_json(cli("campaign", "stats", "bf", "--json")) == deleted["stats_before"]
    with world.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT count(*) FILTER (WHERE profile_id IS NULL AND anonymized_at IS NOT NULL), count(*)"
                " FROM segpipe.activity"
            )
        ).one()
    assert tuple(rows) == (12, 40)


def test_member_counts_are_corrected(deleted, world, cli):
    shown = {
        s["key"]: s["member_count"] for s in json.loads(cli("segment", "list", "--status", "all", "--json").stdout)
    }
    assert shown == {"de": 0, "buyers": 14, "de-buyers": 0}
    with world.connect() as conn:
        points = conn.execute(
            sa.text(
                "SELECT s.key, c.member_count FROM segpipe.segment_counts c"
                " JOIN segpipe.segments s ON s.id = c.segment_id WHERE c.source = 'deletion' ORDER BY c.at, s.key"
            )
        ).all()
    assert [tuple(p) for p in points][-3:] == [("buyers", 14), ("de", 0), ("de-buyers", 0)]


def test_the_segment_remains_and_can_be_refreshed(deleted, cli):
    result = cli("refresh", "de", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)[0]["member_count"] == 0


def test_audit_is_complete_and_holds_no_personal_data(deleted, world, cli):
    job_id = deleted["result"]["job_id"]
    shown = cli("deletion", "show", job_id, "--json")
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    steps = [row["step"] for row in data["audit"]]
    assert steps == ["created", "manifest_frozen", "gate", "batch", "batch", "verified", "completed"]
    created, frozen = data["audit"][0]["detail"], data["audit"][1]["detail"]
    assert created["actor"] == "alice" and created["expected"] == 6
    assert frozen["segment"]["name"] == "German customers" and frozen["rules"]["attribute"] == "country"
    expected_digest = hashlib.sha256("\n".join(sorted(GERMANS)).encode()).hexdigest()
    assert frozen["manifest_sha256"] == expected_digest == data["manifest_sha256"]
    batches = [row["detail"] for row in data["audit"] if row["step"] == "batch"]
    assert [b["batch_no"] for b in batches] == [1, 2] and sum(b["tables"]["profiles"] for b in batches) == 6
    with world.connect() as conn:
        salt = conn.execute(sa.text("SELECT value FROM segpipe.settings WHERE name = :n"), {"n": SALT_SETTING}).scalar()
        audit_text = " ".join(
            json.dumps(d) for d in conn.execute(sa.text("SELECT detail FROM segpipe.deletion_audit")).scalars()
        )
    hashes = sorted(h for b in batches for h in b["external_id_hashes"])
    assert hashes == sorted(hash_external_id(salt, x) for x in GERMANS)
    for external_id in GERMANS:
        assert f'"{external_id}"' not in audit_text and f"{external_id}@example.com" not in audit_text
    hit = output_json(cli("deletion", "lookup", "u01", "--json"))
    assert hit["deleted"] is True and [j["job_id"] for j in hit["jobs"]] == [job_id]
    assert hit["jobs"][0]["segment_key"] == "de" and hit["jobs"][0]["actor"] == "alice"
    miss = output_json(cli("deletion", "lookup", "u07", "--json"))
    assert miss == {"external_id": "u07", "deleted": False, "jobs": []}
    human = cli("deletion", "lookup", "u01")
    assert f"deleted by job {job_id}" in human.stdout
    human = cli("deletion", "show", job_id)
    assert "batch 2: 2 profiles" in human.stdout and "quality gate passed" in human.stdout


def test_audit_rows_are_immutable(deleted, world):
    for statement in (
        "UPDATE segpipe.deletion_audit SET step = 'tampered'",
        "DELETE FROM segpipe.deletion_audit",
        "TRUNCATE segpipe.deletion_audit",
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), world.begin() as conn:
            conn.execute(sa.text(statement))


def test_reidentified_profiles_are_new_with_no_history_and_subscribed(deleted, world, cli, settings):
    old = deleted["ids"]
    result = cli("identify", "u01", "--attr", "country=DE", "--json")
    assert result.exit_code == 0, result.output
    identified = output_json(result)
    assert identified["created"] is True and identified["profile_id"] != old["u01"]
    tracked = segpipe.track("u02", "login", settings=settings)
    assert tracked.profile_created and tracked.profile_id != old["u02"]
    again = segpipe.identify("u03", {"country": "FR"}, settings=settings)
    assert again.created and again.profile_id != old["u03"]
    with world.connect() as conn:
        history = conn.execute(
            sa.text(
                "SELECT (SELECT count(*) FROM segpipe.events WHERE profile_id = :p),"
                " (SELECT count(*) FROM segpipe.subscriptions WHERE profile_id = :p),"
                " (SELECT count(*) FROM segpipe.activity WHERE profile_id = :p)"
            ),
            {"p": identified["profile_id"]},
        ).one()
    assert tuple(history) == (0, 0, 0)
    subscribed = {"subscription": "email", "status": "subscribed"}
    with world.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO segpipe.segments (key, name, rules) VALUES ('subs', 'Subscribed', CAST(:r AS jsonb))"),
            {"r": json.dumps(subscribed)},
        )
    members = cli("segment", "members", "subs", "--format", "csv")
    assert members.exit_code == 0, members.output
    listed = members.stdout.splitlines()[1:]
    assert {"u01", "u02", "u03"} <= {line.split(",")[0] for line in listed}
    assert not {x for x in OTHERS} & {line.split(",")[0] for line in listed}


def test_a_segment_with_dependencies_is_refreshed_dependencies_first(world, cli):
    _ = cli("grant", "alice", "profiles:view")
    result = cli(*delete_args("--json", key="de-buyers", name="German buyers", expect=6))
    assert result.exit_code == 0, result.output
    assert output_json(result)["deleted_profiles"] == 6
    with world.connect() as conn:
        refreshed = conn.execute(
            sa.text(
                "SELECT s.key FROM segpipe.segment_refreshes r JOIN segpipe.refresh_runs u ON u.id = r.run_id"
                " JOIN segpipe.segments s ON s.id = r.segment_id WHERE u.trigger = 'deletion' ORDER BY r.id"
            )
        ).scalars()
        assert list(refreshed) == ["buyers", "de", "de-buyers"]
