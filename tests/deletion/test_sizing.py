"""Batches sized in rows: profiles per batch from the linked rows per profile in the planner's statistics."""

from __future__ import annotations

import sqlalchemy as sa

from segpipe.deletion import DeletionRequest, plan_deletion
from segpipe.deletion.sizing import FALLBACK_BATCH_SIZE, MAX_BATCH_SIZE, MIN_BATCH_SIZE, ROWS_PER_BATCH, auto_batch_size

_TABLES = ("profiles", "events", "event_ids", "subscriptions", "memberships", "snapshot_members", "activity")


def _set_statistics(conn, tuples: dict[str, float]) -> None:
    """Pretend ANALYZE saw these row counts (pg_class is what the sizing reads), inside the test's transaction."""
    for table, n in tuples.items():
        conn.execute(
            sa.text("UPDATE pg_class SET reltuples = :n WHERE oid = CAST(:t AS regclass)"),
            {"n": n, "t": f"segpipe.{table}"},
        )


def test_rows_per_profile_set_the_batch(engine):
    with engine.connect() as conn, conn.begin() as tx:
        _set_statistics(
            conn,
            {"profiles": 1_000_000, "events": 20_000_000, "activity": 4_000_000}
            | dict.fromkeys(("event_ids", "subscriptions", "memberships", "snapshot_members"), 0),
        )
        assert auto_batch_size(conn) == ROWS_PER_BATCH // 25  # 1 profile row + 24 linked rows each
        _set_statistics(conn, {"events": 10_000_000_000})
        assert auto_batch_size(conn) == MIN_BATCH_SIZE
        _set_statistics(conn, {"events": 0, "activity": 0})
        assert auto_batch_size(conn) == MAX_BATCH_SIZE
        tx.rollback()


def test_tables_never_analyzed_get_the_fallback(engine):
    with engine.connect() as conn, conn.begin() as tx:
        _set_statistics(conn, dict.fromkeys(_TABLES, -1))
        assert auto_batch_size(conn) == FALLBACK_BATCH_SIZE
        tx.rollback()


def test_a_job_without_a_batch_size_stores_the_computed_one(world):
    plan = plan_deletion(world, DeletionRequest("de", "alice", 6, "German customers"))
    with world.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT batch_size FROM segpipe.deletion_jobs WHERE id = :j"), {"j": plan.job_id}
        ).scalar_one()
        assert stored == plan.request.batch_size == auto_batch_size(conn)
