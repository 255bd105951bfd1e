"""Deletion benchmark: delete 100k profiles with 2M events through segpipe, against a plain DELETE of the same
rows on a copy of the data, in the same run.

Generates the data in SQL (default 1M profiles, 20 events each = 20M events written in time order, so every
profile's events are spread over the whole table; every 10th profile is in the segment `gone`), plus event ids,
subscriptions, activity, memberships in two segments and an audience snapshot. Then:

- copies the database (`CREATE DATABASE ... TEMPLATE`), and on the copy runs the plain statements, one per
  table, in one transaction (the fastest way Postgres can remove these rows; no batches, no audit, no gate);
- on the original runs `segpipe.deletion.run_deletion` end to end (permission, refresh, manifest, GX gate,
  batches of `--batch-size` with their audit rows, verification, ANALYZE), sampling this process's RSS at
  every batch;
- reports rows/s of both (the same rows: deleted plus anonymized), the ratio, WAL written and the memory curve.

    python benchmarks/deletion_bench.py                                    # 1M profiles / 20M events
    python benchmarks/deletion_bench.py --profiles 100000 --every 10       # quick run
    SEGPIPE_BENCH_SERVER_URL=postgresql+psycopg://user@host:5432/postgres python benchmarks/deletion_bench.py
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from segpipe.config import Settings
from segpipe.db.engine import get_engine
from segpipe.deletion import (
    DeletionRequest,
    freeze_manifest,
    plan_deletion,
    result_of,
    run_batches,
    run_gate,
    verify,
)
from segpipe.deletion.locks import deletion_locks
from segpipe.permissions import grant
from segpipe.refresh.engine import refresh

# The generated data stays pristine in SOURCE_DB (reused with --reuse); each run deletes from two copies of it.
SOURCE_DB, PLAIN_DB, SEGPIPE_DB = "segpipe_bench_deletion", "segpipe_bench_deletion_plain", "segpipe_bench_deletion_run"
EVENT_INDEXES = {
    "events_name_time_idx": "CREATE INDEX events_name_time_idx ON segpipe.events (name, occurred_at)",
    "events_profile_name_time_idx": (
        "CREATE INDEX events_profile_name_time_idx ON segpipe.events (profile_id, name, occurred_at)"
    ),
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def admin(server_url: str) -> Engine:
    return sa.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


def database_url(server_url: str, name: str) -> str:
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def recreate(server_url: str, name: str, template: str | None = None) -> None:
    with admin(server_url).connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        suffix = f' TEMPLATE "{template}"' if template else ""
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"{suffix}')


# Data ---------------------------------------------------------------------------------------------------------

PROFILES = """
INSERT INTO segpipe.profiles (external_id, email, attributes)
SELECT 'user-' || g, 'user' || g || '@example.com',
       jsonb_build_object('cohort', CASE WHEN mod(g, :every) = 0 THEN 'gone' ELSE 'kept' END, 'half', mod(g, 2) = 0)
FROM generate_series(1, :n) g
"""
# One round per event slot, profiles shuffled within a round: ids follow time, a profile's events are scattered.
EVENTS = """
INSERT INTO segpipe.events (profile_id, name, occurred_at, properties, event_id)
SELECT p, (ARRAY['view','click','purchase','login'])[1 + mod(p + :r, 4)],
       timestamptz '2025-01-01' + (:r * interval '1 day') + mod(p, 86400) * interval '1 second',
       jsonb_build_object('amount', mod(p * :r, 100)),
       CASE WHEN mod(p + :r, 10) = 0 THEN 'ev-' || p || '-' || :r END
FROM generate_series(1, :n) p
ORDER BY mod(p::bigint * 7919, :n)
"""
REST = [
    "INSERT INTO segpipe.event_ids (event_id, profile_id) SELECT event_id, profile_id FROM segpipe.events"
    " WHERE event_id IS NOT NULL",
    "INSERT INTO segpipe.subscriptions (profile_id, channel, status, updated_at)"
    " SELECT id, 'email', CASE WHEN mod(id, 3) = 0 THEN 'unsubscribed' ELSE 'subscribed' END, now()"
    " FROM segpipe.profiles",
    "INSERT INTO segpipe.activity (profile_id, campaign, kind, occurred_at)"
    " SELECT id, 'camp-' || mod(id, 5), k, now() FROM segpipe.profiles, unnest(ARRAY['sent', 'open']) k",
    "INSERT INTO segpipe.audience_snapshots (campaign_key, as_of, member_count, status)"
    " VALUES ('camp-0', now(), 0, 'pending')",
    "INSERT INTO segpipe.snapshot_members (snapshot_id, profile_id)"
    " SELECT 1, id FROM segpipe.profiles WHERE mod(id, 4) = 0",
    "UPDATE segpipe.audience_snapshots SET status = 'ready' WHERE id = 1",
    "INSERT INTO segpipe.segments (key, name, rules) VALUES"
    ' (\'gone\', \'Profiles to delete\', \'{"attribute": "cohort", "op": "eq", "value": "gone"}\'),'
    ' (\'half\', \'Every other profile\', \'{"attribute": "half", "op": "eq", "value": true}\')',
    "SELECT nextval('segpipe.data_version')",
]


def generate(engine: Engine, profiles: int, events_per_profile: int, every: int) -> float:
    started = time.perf_counter()
    with engine.begin() as conn:
        for name in EVENT_INDEXES:
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS segpipe.{name}")
        conn.execute(sa.text(PROFILES), {"n": profiles, "every": every})
    for r in range(events_per_profile):
        with engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
            conn.execute(sa.text(EVENTS), {"n": profiles, "r": r})
        log(f"events round {r + 1}/{events_per_profile}")
    with engine.begin() as conn:
        for statement in REST:
            conn.exec_driver_sql(statement)
        conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '1GB'")
        for statement in EVENT_INDEXES.values():
            conn.exec_driver_sql(statement)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
    refresh(engine, ["gone", "half"])
    return time.perf_counter() - started


# Runs ---------------------------------------------------------------------------------------------------------

PLAIN = [
    ("events", "DELETE FROM segpipe.events WHERE profile_id IN (SELECT id FROM gone)"),
    ("event_ids", "DELETE FROM segpipe.event_ids WHERE profile_id IN (SELECT id FROM gone)"),
    ("subscriptions", "DELETE FROM segpipe.subscriptions WHERE profile_id IN (SELECT id FROM gone)"),
    ("memberships", "DELETE FROM segpipe.memberships WHERE profile_id IN (SELECT id FROM gone)"),
    ("snapshot_members", "DELETE FROM segpipe.snapshot_members WHERE profile_id IN (SELECT id FROM gone)"),
    (
        "activity",
        "UPDATE segpipe.activity SET profile_id = NULL, anonymized_at = now()"
        " WHERE profile_id IN (SELECT id FROM gone)",
    ),
    ("profiles", "DELETE FROM segpipe.profiles WHERE id IN (SELECT id FROM gone)"),
]


def wal_lsn(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")).scalar_one())


def checkpoint(engine: Engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("CHECKPOINT")


def plain_delete(engine: Engine) -> dict[str, Any]:
    """The same rows removed by one statement per table, in one transaction."""
    checkpoint(engine)
    wal = wal_lsn(engine)
    started = time.perf_counter()
    rows: dict[str, int] = {}
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TEMP TABLE gone ON COMMIT DROP AS SELECT m.profile_id AS id FROM segpipe.memberships m"
            " JOIN segpipe.segments s ON s.id = m.segment_id WHERE s.key = 'gone'"
        )
        conn.exec_driver_sql("ANALYZE gone")
        for table, statement in PLAIN:
            rows[table] = conn.exec_driver_sql(statement).rowcount
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rows": rows,
        "total_rows": sum(rows.values()),
        "wal_mb": (wal_lsn(engine) - wal) / 2**20,
    }


class MemoryProgress:
    """Samples this process's RSS at every batch; times the batch phase."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self.started: float | None = None
        self.finished: float | None = None

    def start(self, total: int | None, description: str = "") -> None:
        self.started = time.perf_counter()
        self.samples.append(rss_mb())

    def advance(self, steps: int = 1, description: str | None = None) -> None:
        if description:
            self.samples.append(rss_mb())
            if len(self.samples) % 5 == 0:
                log(f"  {description}: RSS {self.samples[-1]:.0f} MB")

    def finish(self) -> None:
        self.finished = time.perf_counter()


def import_gx() -> float:
    """Import Great Expectations before timing, as a worker process has (Prefect worker, `segpipe serve`)."""
    started = time.perf_counter()
    importlib.import_module("great_expectations")
    return time.perf_counter() - started


def segpipe_delete(engine: Engine, expected: int, batch_size: int | None) -> dict[str, Any]:
    """What `run_deletion` does, stage by stage (same locks, same order), timing each stage."""
    with engine.begin() as conn:
        grant(conn, "bench", ["profiles:view", "profiles:edit"], "bench")
    checkpoint(engine)
    wal = wal_lsn(engine)
    progress = MemoryProgress()
    request = DeletionRequest("gone", "bench", expected, "Profiles to delete", batch_size=batch_size)
    stages: dict[str, float] = {}
    started = time.perf_counter()
    plan = plan_deletion(engine, request)
    stages["plan"] = time.perf_counter() - started
    with deletion_locks(engine, plan.job_id, "gone") as locked:
        for name, step in (
            ("refresh_and_freeze", lambda: freeze_manifest(engine, plan.job_id, locked=locked)),
            ("gx_gate", lambda: run_gate(engine, plan.job_id)),
            ("batches", lambda: run_batches(engine, plan.job_id, progress)),
            ("verify_and_analyze", lambda: verify(engine, plan.job_id)),
        ):
            began = time.perf_counter()
            step()
            stages[name] = time.perf_counter() - began
            log(f"  {name}: {stages[name]:.1f} s")
    seconds = time.perf_counter() - started
    result = result_of(engine, plan.job_id)
    return {
        "status": result.status,
        "seconds": seconds,
        "stages": stages,
        "batch_seconds": stages["batches"],
        "batches": result.batches,
        "rows": result.tables,
        "total_rows": sum(result.tables.values()),
        "wal_mb": (wal_lsn(engine) - wal) / 2**20,
        "rss_mb": {
            "first_batch": progress.samples[1] if len(progress.samples) > 1 else None,
            "max": max(progress.samples),
            "min": min(progress.samples),
            "samples": len(progress.samples),
        },
        "job_id": str(result.job_id),
    }


def explain_batch(engine: Engine) -> str:
    """The plan of one batch's events delete (rolled back)."""
    with engine.connect() as conn:
        ids = list(
            conn.execute(
                sa.text(
                    "SELECT m.profile_id FROM segpipe.memberships m JOIN segpipe.segments s ON s.id = m.segment_id"
                    " WHERE s.key = 'half' ORDER BY 1 LIMIT 10000"
                )
            ).scalars()
        )
        plan = conn.execute(
            sa.text("EXPLAIN DELETE FROM segpipe.events WHERE profile_id = ANY(CAST(:ids AS bigint[]))"), {"ids": ids}
        ).scalars()
        return "\n".join(line[:120] for line in plan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--events-per-profile", type=int, default=20)
    parser.add_argument("--every", type=int, default=10, help="every Nth profile is deleted")
    parser.add_argument("--batch-size", type=int, default=None, help="profiles per batch (default: sized by rows)")
    parser.add_argument("--cold", action="store_true", help="time the first Great Expectations import too")
    parser.add_argument("--reuse", action="store_true", help="skip generation (the source database exists)")
    args = parser.parse_args()
    server = os.environ.get("SEGPIPE_BENCH_SERVER_URL", "postgresql+psycopg://root@127.0.0.1:5432/postgres")
    report: dict[str, Any] = {"args": vars(args)}
    if not args.reuse:
        recreate(server, SOURCE_DB)
        engine = get_engine(Settings(database_url=database_url(server, SOURCE_DB)))
        log(f"generating {args.profiles:,} profiles x {args.events_per_profile} events")
        report["generate_seconds"] = generate(engine, args.profiles, args.events_per_profile, args.every)
        engine.dispose()
    recreate(server, PLAIN_DB, template=SOURCE_DB)
    recreate(server, SEGPIPE_DB, template=SOURCE_DB)
    plain_engine = get_engine(Settings(database_url=database_url(server, PLAIN_DB)))
    log("plain DELETE on a copy")
    report["plain"] = plain_delete(plain_engine)
    log(json.dumps(report["plain"]))
    plain_engine.dispose()
    engine = get_engine(Settings(database_url=database_url(server, SEGPIPE_DB)))
    report["batch_plan"] = explain_batch(engine)
    expected = args.profiles // args.every
    size = args.batch_size or "by rows"
    log(f"segpipe deletion of segment gone on another copy (expect {expected:,}, batch size {size})")
    report["gx_import_seconds"] = None if args.cold else import_gx()
    report["segpipe"] = segpipe_delete(engine, expected, args.batch_size)
    engine.dispose()
    plain, ours = report["plain"], report["segpipe"]
    report["rows_per_second"] = {
        "plain": plain["total_rows"] / plain["seconds"],
        "segpipe_end_to_end": ours["total_rows"] / ours["seconds"],
        "segpipe_batches": ours["total_rows"] / ours["batch_seconds"],
    }
    report["ratio_end_to_end"] = report["rows_per_second"]["segpipe_end_to_end"] / report["rows_per_second"]["plain"]
    report["ratio_batches"] = report["rows_per_second"]["segpipe_batches"] / report["rows_per_second"]["plain"]
    print(json.dumps(report, indent=2, default=str))
    with admin(server).connect() as conn:
        for name in (PLAIN_DB, SEGPIPE_DB):
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
