from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from segpipe.db.engine import is_locked, lock_id
from segpipe.refresh.engine import refresh, refresh_in_progress
from tests.refresh.helpers import add_profiles, add_segment

T1 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
GOLD = {"attribute": "tier", "op": "eq", "value": "gold"}


@pytest.fixture()
def seeded(clean):
    with clean.begin() as conn:
        add_profiles(conn, [("u1", None, {"tier": "gold"}), ("u2", None, {"tier": "silver"})])
    return clean


def _status(engine, key):
    query = sa.text(
        "SELECT r.status FROM segpipe.segment_refreshes r JOIN segpipe.segments s ON s.id = r.segment_id"
        " WHERE s.key = :k ORDER BY r.id DESC LIMIT 1"
    )
    with engine.connect() as conn:
        return conn.execute(query, {"k": key}).scalar()


def _wait_for_lock_wait(engine, timeout_s=20.0):
    """True once another session of this database waits on a relation lock (the refresh's member query)."""
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        " AND wait_event_type = 'Lock' AND wait_event = 'relation'"
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            if conn.execute(query).scalar():
                return True
        time.sleep(0.05)
    return False


def _in_thread(fn):
    box: dict = {}
    thread = threading.Thread(target=lambda: box.setdefault("result", fn()), daemon=True)
    thread.start()
    return thread, box


@pytest.mark.parametrize("key", ["gold", "seg0"])  # lock ids of both signs
def test_second_refresh_waits_for_the_lock_holder(seeded, key):
    with seeded.begin() as conn:
        add_segment(conn, key, GOLD)
    holder = seeded.connect()
    holder.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": lock_id("refresh", key)})
    holder.commit()
    try:
        thread, box = _in_thread(lambda: refresh(seeded, [key], T1))
        time.sleep(0.8)
        assert thread.is_alive()
        assert _status(seeded, key) == "queued"
    finally:
        holder.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": lock_id("refresh", key)})
        holder.commit()
        holder.close()
    thread.join(timeout=20)
    assert not thread.is_alive()
    assert box["result"].segments[0].status == "succeeded"


@pytest.mark.parametrize("key", ["busy", "slow"])  # lock ids of both signs
def test_lock_and_running_status_are_visible_while_computing(seeded, key):
    with seeded.begin() as conn:
        add_segment(conn, key, GOLD)
    blocker = seeded.connect()  # the member query waits on this lock: the refresh is computing, not done
    blocker.execute(sa.text("LOCK TABLE segpipe.profiles IN ACCESS EXCLUSIVE MODE"))
    try:
        thread, box = _in_thread(lambda: refresh(seeded, [key], T1))
        assert _wait_for_lock_wait(seeded)
        with seeded.connect() as conn:
            assert refresh_in_progress(conn, key)
            assert is_locked(conn, "refresh", key)
        assert _status(seeded, key) == "running"
    finally:
        blocker.rollback()
        blocker.close()
    thread.join(timeout=20)
    assert box["result"].segments[0].status == "succeeded"
    with seeded.connect() as conn:
        assert not refresh_in_progress(conn, key)


def test_lock_is_released_after_a_failure(seeded):
    with seeded.begin() as conn:
        add_segment(conn, "neg", {"attribute": "tier", "op": "bogus", "value": 1})
    result = refresh(seeded, ["neg"], T1)
    assert result.segments[0].status == "failed"
    with seeded.connect() as conn:
        assert not refresh_in_progress(conn, "neg")
        assert conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_id("refresh", "neg")}).scalar()
