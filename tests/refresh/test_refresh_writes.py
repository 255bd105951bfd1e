"""How a refresh writes memberships: one diff statement, new members in profile_id order, statistics after
large writes."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from segpipe.refresh import engine as refresh_engine
from segpipe.refresh.engine import refresh
from tests.refresh.helpers import add_profiles, add_segment, set_attributes

T1 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T2 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def stored_in_physical_order(conn, key):
    query = sa.text(
        "SELECT m.profile_id FROM segpipe.memberships m JOIN segpipe.segments s ON s.id = m.segment_id"
        " WHERE s.key = :k ORDER BY m.ctid"
    )
    return list(conn.execute(query, {"k": key}).scalars())


def last_analyze(conn):
    conn.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
    query = "SELECT last_analyze FROM pg_stat_user_tables WHERE schemaname = 'segpipe' AND relname = 'memberships'"
    return conn.execute(sa.text(query)).scalar()


def test_members_are_inserted_in_profile_order_and_diffed_in_one_statement(clean):
    with clean.begin() as conn:
        ids = add_profiles(conn, [(f"u{i:03d}", None, {"tier": "gold" if i % 3 else "silver"}) for i in range(300)])
        for i in reversed(range(1, 300, 2)):  # updated rows move to the end of the heap, in reverse id order
            set_attributes(conn, f"u{i:03d}", {"tier": "gold" if i % 3 else "silver", "n": i})
        add_segment(conn, "gold", {"attribute": "tier", "op": "eq", "value": "gold"})
        scanned = list(conn.execute(sa.text("SELECT id FROM segpipe.profiles")).scalars())
    assert scanned != sorted(scanned)
    first = refresh(clean, ["gold"], T1).segments[0]
    with clean.connect() as conn:
        physical = stored_in_physical_order(conn, "gold")
    assert (first.added, first.removed) == (200, 0) and physical == sorted(physical)
    with clean.begin() as conn:
        set_attributes(conn, "u001", {"tier": "silver"})
        set_attributes(conn, "u003", {"tier": "gold"})
    second = refresh(clean, ["gold"], T2).segments[0]
    assert (second.member_count, second.added, second.removed) == (200, 1, 1)
    with clean.connect() as conn:
        stored = set(stored_in_physical_order(conn, "gold"))
    assert ids["u003"] in stored and ids["u001"] not in stored


def test_memberships_are_analyzed_after_large_writes(clean, monkeypatch):
    with clean.begin() as conn:
        add_profiles(conn, [("a", None, {"tier": "gold"}), ("b", None, {"tier": "gold"})])
        add_segment(conn, "gold", {"attribute": "tier", "op": "eq", "value": "gold"})
    monkeypatch.setattr(refresh_engine, "ANALYZE_AFTER_ROWS", 3)
    refresh(clean, ["gold"], T1)
    with clean.connect() as conn:
        assert last_analyze(conn) is None
    monkeypatch.setattr(refresh_engine, "ANALYZE_AFTER_ROWS", 2)
    with clean.begin() as conn:
        conn.execute(sa.text("TRUNCATE segpipe.memberships"))
    refresh(clean, ["gold"], T2)
    with clean.connect() as conn:
        assert last_analyze(conn) is not None
