"""Shared event scans through the run structure the flows use: plan → start_run → refresh_segment (possibly two
workers at once) → finish_run; results always equal the per-segment compilation."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from segpipe.db import schema as t
from segpipe.refresh import feature_tables
from segpipe.refresh.engine import finish_run, plan_refresh, refresh, start_run
from segpipe.refresh.membership import compile_segment, members_resolver, refresh_segment
from segpipe.store.segments import require_segment
from tests.refresh.helpers import add_profiles, add_segment, bump_data_version, members

T1 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)

SEGMENTS = {
    "buyers-7d": {"event": "purchase", "within": {"days": 7}},
    "big-spenders": {"event": "purchase", "aggregate": "sum", "property": "amount", "op": "gte", "value": 50},
    "books-30d": {"event": "purchase", "where": [{"property": "category", "op": "eq", "value": "books"}],
                  "within": {"days": 30}, "op": "gte", "value": 2},
    "no-login": {"not": {"event": "login", "within": {"days": 3}}},
    "login-or-vip": {"any": [{"event": "login", "within": {"days": 10}},
                             {"attribute": "vip", "op": "eq", "value": True}]},
    "reviewers": {"event": "review"},
    "loyal-buyers": {"all": [{"segment": "buyers-7d"}, {"event": "login", "op": "gte", "value": 2}]},
}  # fmt: skip
SHARED_NAMES = {"purchase", "login"}


def add_events(conn, ids, rows):
    for external_id, name, ago, properties in rows:
        conn.execute(
            sa.text(
                "INSERT INTO segpipe.events (profile_id, name, occurred_at, properties)"
                " VALUES (:p, :n, :o, CAST(:j AS jsonb))"
            ),
            {"p": ids[external_id], "n": name, "o": T1 - ago, "j": json.dumps(properties)},
        )
    bump_data_version(conn)


@pytest.fixture()
def shop(clean):
    with clean.begin() as conn:
        ids = add_profiles(conn, [(f"u{i}", None, {"vip": i == 5}) for i in range(1, 7)])
        add_events(
            conn,
            ids,
            [
                ("u1", "purchase", DAY, {"amount": 30, "category": "books"}),
                ("u1", "purchase", 2 * DAY, {"amount": 25, "category": "books"}),
                ("u1", "login", DAY, {}),
                ("u1", "login", 20 * DAY, {}),
                ("u2", "purchase", 20 * DAY, {"amount": "60", "category": "books"}),
                ("u2", "login", 5 * DAY, {}),
                ("u3", "purchase", 3 * DAY, {"amount": 80}),
                ("u3", "purchase", -DAY, {"amount": 80}),
                ("u4", "review", 100 * DAY, {}),
                ("u6", "login", timedelta(hours=1), {}),
            ],
        )
        for key, rules in SEGMENTS.items():
            add_segment(conn, key, rules)
        ids_by_key = dict(conn.execute(sa.text("SELECT key, id FROM segpipe.segments")).all())
    clean.ids = ids
    clean.segment_ids = ids_by_key
    return clean


def per_segment(engine, as_of):
    """Each segment's members by its own compiled query, without shared scans (a reference reads the stored
    members of the segment it names, as a refresh does)."""
    found = {}
    with engine.connect() as conn:
        for key in SEGMENTS:
            query = compile_segment(require_segment(conn, key), as_of, members_resolver(conn))
            ids = sa.select(t.profiles.c.external_id).where(t.profiles.c.id.in_(query.scalar_subquery()))
            found[key] = set(conn.execute(ids).scalars())
    return found


def all_members(engine):
    with engine.connect() as conn:
        return {key: members(conn, key) for key in SEGMENTS}


def catalog_rows(engine, run_id):
    table = feature_tables.catalog(run_id)
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(table.name, schema="segpipe"):
            return None
        return conn.execute(sa.select(table.c.feature, table.c.grp, table.c.version, table.c.builds)).all()


def run_tables(engine):
    with engine.connect() as conn:
        query = sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'segpipe' AND tablename LIKE :p")
        return sorted(conn.execute(query, {"p": "run%features%"}).scalars())


def start(engine, keys=None, as_of=T1, **kw):
    with engine.begin() as conn:
        plan = plan_refresh(conn, keys, as_of)
        return plan, start_run(conn, plan, "test", **kw)


def test_refresh_all_shares_scans_and_matches_per_segment(shop):
    plan, run_id = start(shop)
    groups = {json.loads(feature)["event"]: grp for feature, grp, _, _ in catalog_rows(shop, run_id)}
    assert set(groups) == SHARED_NAMES
    for planned in plan.segments:
        assert refresh_segment(shop, run_id, planned.key, plan.as_of).status == "succeeded", planned.key
    built = catalog_rows(shop, run_id)
    assert {(version is not None, builds) for _, _, version, builds in built} == {(True, 1)}
    with shop.begin() as conn:
        finish_run(conn, run_id)
    stored = all_members(shop)
    assert stored["buyers-7d"] == {"u1", "u3"} and stored["no-login"] == {"u2", "u3", "u4", "u5"}
    assert stored == per_segment(shop, plan.as_of)
    assert run_tables(shop) == []


def test_nothing_is_planned_when_nothing_is_stale_or_only_one_segment_reads_a_name(shop):
    refresh(shop, None, T1)
    plan, run_id = start(shop)
    assert {p.stale_reason for p in plan.segments} == {None} and catalog_rows(shop, run_id) is None
    plan, forced = start(shop, force=True)
    assert catalog_rows(shop, forced) is not None
    plan, single = start(shop, ["reviewers", "buyers-7d"], as_of=T1 + DAY)
    assert catalog_rows(shop, single) is None


def test_a_data_change_mid_run_is_seen_with_one_rebuild_then_own_scans(shop):
    _, run_id = start(shop, ["buyers-7d", "big-spenders", "books-30d"])
    assert refresh_segment(shop, run_id, "buyers-7d", T1).status == "succeeded"
    with shop.begin() as conn:
        add_events(conn, shop.ids, [("u4", "purchase", DAY, {"amount": 100, "category": "books"})])
    assert refresh_segment(shop, run_id, "big-spenders", T1).member_count == 3
    assert {builds for *_, builds in catalog_rows(shop, run_id)} == {2}
    with shop.begin() as conn:
        add_events(conn, shop.ids, [("u4", "purchase", DAY, {"amount": 1, "category": "books"})])
    assert refresh_segment(shop, run_id, "books-30d", T1).member_count == 2
    assert {builds for *_, builds in catalog_rows(shop, run_id)} == {2}
    with shop.connect() as conn:
        assert members(conn, "books-30d") == {"u1", "u4"} and members(conn, "big-spenders") == {"u1", "u3", "u4"}
    with shop.begin() as conn:
        finish_run(conn, run_id)
    assert run_tables(shop) == []


def test_two_workers_build_each_scan_once(shop):
    plan, run_id = start(shop, None, as_of=T1)
    first_wave = [p.key for p in plan.waves[0]]
    results: dict[str, str] = {}

    def worker(keys):
        for key in keys:
            results[key] = refresh_segment(shop, run_id, key, plan.as_of, raise_transient=True).status

    threads = [threading.Thread(target=worker, args=(first_wave[i::2],)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for wave in plan.waves[1:]:
        worker([p.key for p in wave])
    assert set(results.values()) == {"succeeded"}
    assert {builds for *_, builds in catalog_rows(shop, run_id)} == {1}
    with shop.begin() as conn:
        finish_run(conn, run_id)
    assert all_members(shop) == per_segment(shop, plan.as_of)


def test_tables_of_ended_or_crashed_runs_are_dropped_when_a_run_starts(shop):
    _, crashed = start(shop)
    _, ended = start(shop, force=True)
    _, running = start(shop, force=True)
    with shop.begin() as conn:
        conn.execute(
            sa.text("UPDATE segpipe.refresh_runs SET started_at = now() - interval '2 days' WHERE id = :r"),
            {"r": crashed},
        )
        conn.execute(sa.text("UPDATE segpipe.refresh_runs SET finished_at = now() WHERE id = :r"), {"r": ended})
    assert {catalog_rows(shop, r) is not None for r in (crashed, ended, running)} == {True}
    start(shop, ["reviewers"])
    assert run_tables(shop) == [f"run_features_{running}"]
