from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from segpipe.errors import NotFound
from segpipe.refresh.engine import plan_refresh, refresh
from segpipe.store.segments import require_segment
from tests.refresh.helpers import (
    add_consumer,
    add_profiles,
    add_segment,
    bump_data_version,
    members,
    set_attributes,
    set_rules,
)

T1 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T2 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

GOLD = {"attribute": "tier", "op": "eq", "value": "gold"}
DE = {"attribute": "country", "op": "eq", "value": "DE"}


def run(engine, keys, as_of=T1, **kw):
    return refresh(engine, keys, as_of, **kw)


def by_key(result):
    return {s.key: s for s in result.segments}


@pytest.fixture()
def people(clean):
    with clean.begin() as conn:
        add_profiles(
            conn,
            [
                ("u1", "u1@x.io", {"tier": "gold", "country": "DE"}),
                ("u2", "u2@x.io", {"tier": "gold", "country": "FR"}),
                ("u3", None, {"tier": "silver", "country": "DE"}),
                ("u4", "u4@x.io", {"tier": "gold", "country": "DE"}),
            ],
        )
    return clean


def test_dependencies_run_first_in_one_run(people):
    with people.begin() as conn:
        add_segment(conn, "gold", GOLD)
        add_segment(conn, "gold-de", {"all": [{"segment": "gold"}, DE]})
        add_segment(conn, "gold-not-de", {"all": [{"segment": "gold"}, {"not": {"segment": "gold-de"}}]})
    result = run(people, ["gold-not-de"])
    assert [s.key for s in result.segments] == ["gold", "gold-de", "gold-not-de"]
    assert {s.status for s in result.segments} == {"succeeded"}
    with people.connect() as conn:
        assert members(conn, "gold") == {"u1", "u2", "u4"}
        assert members(conn, "gold-de") == {"u1", "u4"}
        assert members(conn, "gold-not-de") == {"u2"}
        refreshes = conn.execute(
            sa.text(
                "SELECT s.key FROM segpipe.segment_refreshes r JOIN segpipe.segments s ON s.id = r.segment_id"
                " WHERE r.run_id = :r ORDER BY r.started_at"
            ),
            {"r": result.run_id},
        ).scalars()
        assert list(refreshes) == ["gold", "gold-de", "gold-not-de"]


def test_plan_waves_and_requested_flags(people):
    with people.begin() as conn:
        add_segment(conn, "gold", GOLD)
        add_segment(conn, "de", DE)
        add_segment(conn, "gold-de", {"all": [{"segment": "gold"}, {"segment": "de"}]})
        plan = plan_refresh(conn, ["gold-de"], T1)
    assert [[p.key for p in wave] for wave in plan.waves] == [["de", "gold"], ["gold-de"]]
    assert [p.requested for p in plan.segments] == [False, False, True]
    assert plan.segments[2].depends_on == ("de", "gold")
    assert all(p.stale_reason == "never refreshed" for p in plan.segments)


def test_fresh_dependency_is_reused_and_stale_one_recomputed(people):
    with people.begin() as conn:
        add_segment(conn, "gold", GOLD)
        add_segment(conn, "gold-de", {"all": [{"segment": "gold"}, DE]})
    run(people, ["gold"])
    with people.connect() as conn:
        first = require_segment(conn, "gold").last_refreshed_at
    result = by_key(run(people, ["gold-de"]))
    assert (result["gold"].status, result["gold"].reason) == ("succeeded", "up to date")
    assert (result["gold-de"].status, result["gold-de"].reason) == ("succeeded", "never refreshed")
    with people.connect() as conn:
        assert require_segment(conn, "gold").last_refreshed_at == first
    # another as_of makes the dependency stale
    result = by_key(run(people, ["gold-de"], as_of=T2))
    assert result["gold"].reason == "as_of changed" and result["gold-de"].reason == "as_of changed"
    # a data write (data version) makes it stale at the same as_of too
    with people.begin() as conn:
        set_attributes(conn, "u3", {"tier": "gold", "country": "DE"})
    result = by_key(run(people, ["gold-de"], as_of=T2))
    assert (result["gold"].reason, result["gold"].added) == ("data changed", 1)
    assert (result["gold-de"].added, result["gold-de"].member_count) == (1, 3)


def test_definition_change_and_dependency_refresh_make_dependents_stale(people):
    with people.begin() as conn:
        add_segment(conn, "gold", GOLD)
        add_segment(conn, "in-gold", {"segment": "gold"})
    run(people, ["in-gold"])
    with people.begin() as conn:
        set_rules(conn, "gold", {"attribute": "tier", "op": "eq", "value": "silver"})
    result = by_key(run(people, ["in-gold"]))
    assert result["gold"].reason == "definition changed"
    assert result["in-gold"].reason == "dependency gold refreshed"
    with people.connect() as conn:
        assert members(conn, "in-gold") == {"u3"}


def test_diff_write_counts_and_set(people):
    with people.begin() as conn:
        add_segment(conn, "gold", GOLD)
    first = run(people, ["gold"]).segments[0]
    assert (first.member_count, first.added, first.removed) == (3, 3, 0)
    with people.begin() as conn:
        set_attributes(conn, "u1", {"tier": "silver"})
        set_attributes(conn, "u2", {"tier": "silver"})
        set_attributes(conn, "u3", {"tier": "gold"})
    second = run(people, ["gold"], as_of=T2).segments[0]
    assert (second.member_count, second.added, second.removed) == (2, 1, 2)
    with people.connect() as conn:
        assert members(conn, "gold") == {"u3", "u4"}
        segment = require_segment(conn, "gold")
        assert (segment.member_count, segment.last_refresh_as_of) == (2, T2)
        points = conn.execute(
            sa.text("SELECT member_count, source FROM segpipe.segment_counts WHERE segment_id = :i ORDER BY at"),
            {"i": segment.id},
        ).all()
        assert [tuple(p) for p in points] == [(3, "refresh"), (2, "refresh")]


def _row_versions(conn, key):
    query = sa.text(
        "SELECT m.profile_id, m.xmin::text, m.ctid::text FROM segpipe.memberships m"
        " JOIN segpipe.segments s ON s.id = m.segment_id WHERE s.key = :k ORDER BY 1"
    )
    return [tuple(r) for r in conn.execute(query, {"k": key})]


def test_refresh_without_changes_writes_no_membership_rows(people):
    with people.begin() as conn:
        add_segment(conn, "gold", GOLD)
    run(people, ["gold"])
    with people.connect() as conn:
        before = _row_versions(conn, "gold")
    # new as_of, no data change: recomputed, nothing written
    again = run(people, ["gold"], as_of=T2).segments[0]
    assert (again.status, again.reason, again.added, again.removed) == ("succeeded", "as_of changed", 0, 0)
    # forced recompute at the same as_of: nothing written either
    forced = run(people, ["gold"], as_of=T2, force=True).segments[0]
    assert (forced.reason, forced.added, forced.removed, forced.member_count) == ("forced", 0, 0, 3)
    with people.connect() as conn:
        assert _row_versions(conn, "gold") == before


def test_failure_skips_dependents_but_not_unrelated_segments(people):
    with people.begin() as conn:
        add_segment(conn, "broken", {"attribute": "tier", "op": "no-such-op", "value": 1})
        add_segment(conn, "uses-broken", {"segment": "broken"})
        add_segment(conn, "uses-uses-broken", {"segment": "uses-broken"})
        add_segment(conn, "gold", GOLD)
    result = run(people, None)
    states = {s.key: (s.status, s.reason) for s in result.segments}
    assert states == {
        "broken": ("failed", None),
        "uses-broken": ("skipped", "dependency broken failed"),
        "uses-uses-broken": ("skipped", "dependency broken failed"),
        "gold": ("succeeded", "never refreshed"),
    }
    assert "no-such-op" in by_key(result)["broken"].error
    assert result.failed == ["broken"]
    with people.connect() as conn:
        assert require_segment(conn, "broken").last_refreshed_at is None
        assert conn.execute(sa.text("SELECT finished_at IS NOT NULL FROM segpipe.refresh_runs")).scalar()


def test_refresh_all_selection(people):
    with people.begin() as conn:
        add_segment(conn, "gold", GOLD)
        add_segment(conn, "sleepy", GOLD, status="inactive")
        add_segment(conn, "old-unused", GOLD, archived=True)
        add_segment(conn, "old-referenced", DE, archived=True)
        add_segment(conn, "old-used-by-campaign", DE, archived=True)
        add_segment(conn, "uses-old", {"segment": "old-referenced"})
        add_consumer(conn, "campaign", "bf", "draft", ["old-used-by-campaign"])
    result = by_key(run(people, None))
    assert (result["sleepy"].status, result["sleepy"].reason) == ("skipped", "inactive")
    assert (result["old-unused"].status, result["old-unused"].reason) == ("skipped", "archived")
    for key in ("gold", "old-referenced", "old-used-by-campaign", "uses-old"):
        assert result[key].status == "succeeded", key
    with people.connect() as conn:
        assert members(conn, "sleepy") == set()
        assert members(conn, "old-referenced") == {"u1", "u3", "u4"}


def test_named_inactive_or_archived_segment_is_refreshed(people):
    with people.begin() as conn:
        add_segment(conn, "sleepy", GOLD, status="inactive")
        add_segment(conn, "old", DE, archived=True)
    result = run(people, ["sleepy", "old"])
    assert {s.key: s.status for s in result.segments} == {"old": "succeeded", "sleepy": "succeeded"}


def test_unknown_key_fails_before_anything_runs(people):
    with people.begin() as conn:
        add_segment(conn, "gold", GOLD)
    with pytest.raises(NotFound, match="unknown segment 'nope'"):
        run(people, ["gold", "nope"])
    with people.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM segpipe.refresh_runs")).scalar() == 0


def test_run_records(people):
    with people.begin() as conn:
        add_segment(conn, "gold", GOLD)
        bump_data_version(conn)
        version = conn.execute(sa.text("SELECT last_value FROM segpipe.data_version")).scalar()
    result = run(people, ["gold"], trigger="test")
    with people.connect() as conn:
        run_row = conn.execute(sa.text("SELECT * FROM segpipe.refresh_runs WHERE id = :r"), {"r": result.run_id})
        run_row = run_row.mappings().one()
        assert (run_row["trigger"], run_row["as_of"]) == ("test", T1) and run_row["finished_at"] is not None
        row = conn.execute(sa.text("SELECT * FROM segpipe.segment_refreshes WHERE run_id = :r"), {"r": result.run_id})
        row = row.mappings().one()
        assert (row["status"], row["member_count"], row["added"], row["removed"]) == ("succeeded", 3, 3, 0)
        assert row["started_at"] <= row["finished_at"] and row["duration_ms"] >= 0 and row["error"] is None
        assert require_segment(conn, "gold").refreshed_data_version == version


def test_default_as_of_is_one_database_time_for_the_run(people):
    with people.begin() as conn:
        add_segment(conn, "gold", GOLD)
        add_segment(conn, "in-gold", {"segment": "gold"})
        before = conn.execute(sa.text("SELECT clock_timestamp()")).scalar()
    result = refresh(people, ["in-gold"])
    with people.connect() as conn:
        stamps = conn.execute(sa.text("SELECT DISTINCT last_refresh_as_of FROM segpipe.segments")).scalars().all()
    assert stamps == [result.as_of] and result.as_of >= before


def test_data_version_is_zero_until_the_first_write(clean):
    from segpipe.store.runs import data_version

    with clean.connect() as conn:
        conn.execute(sa.text("SELECT setval('segpipe.data_version', 1, false)"))
        assert data_version(conn) == 0
        bump_data_version(conn)
        assert data_version(conn) == 1
        conn.rollback()
