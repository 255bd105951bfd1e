"""Incremental refresh benchmark: the hourly step against a full recompute of the same segments, same data, one run.

Reuses refresh_bench.py's generated data set and its 100 mixed segments (its own database, default
`segpipe_bench_incremental`), then:

1. the first refresh-all at AS_OF (full: no incremental state yet);
2. the cost of the change-log triggers on a bulk insert into `events` (migration 0016): the same N rows inserted
   with the triggers and with them disabled (`session_replication_role = replica`), each rolled back;
3. for each share (default 1%): the hourly step — insert new events for that share of the profiles (1–3 events
   each, `occurred_at` within the coming hour), then refresh-all at as_of + 1 h (incremental by default) — and
   then a forced full recompute of the same segments at the same as_of (`refresh(force=True)`: shared scans,
   every segment recomputed). The full recompute must write **0** membership rows: every segment's
   incrementally maintained members equal the full recompute's. The ratio incremental / full is the target
   (≤ 10%); with `--no-fallback` the break-even share is measured (every segment stays incremental).

    python benchmarks/incremental_bench.py --profiles 200000 --events 4000000
    python benchmarks/incremental_bench.py --reuse segpipe_bench_incremental --shares 0.01,0.05,0.1,0.2 --no-fallback
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from benchmarks.refresh_bench import (
    AS_OF,
    create_database,
    generate,
    insert_segments,
    log,
    membership_writes,
    reset_memberships,
    segment_specs,
)
from segpipe.config import Settings
from segpipe.db.engine import get_engine
from segpipe.refresh import incremental
from segpipe.refresh.engine import RefreshRunResult, refresh

HOURLY_EVENTS_SQL = """
INSERT INTO segpipe.events (profile_id, name, occurred_at, properties)
SELECT p.id,
       CASE WHEN r < 0.35 THEN 'view' WHEN r < 0.55 THEN 'login' WHEN r < 0.65 THEN 'search'
            WHEN r < 0.73 THEN 'add_to_cart' WHEN r < 0.80 THEN 'purchase' WHEN r < 0.86 THEN 'logout'
            WHEN r < 0.91 THEN 'share' WHEN r < 0.95 THEN 'review' WHEN r < 0.98 THEN 'signup'
            ELSE 'refund' END,
       :start + random() * interval '1 hour',
       jsonb_build_object('amount', round((5 + random() * 295)::numeric, 2))
FROM (SELECT id, 1 + floor(random() * 3)::int AS k FROM segpipe.profiles WHERE random() < :share) p
CROSS JOIN LATERAL (SELECT random() AS r FROM generate_series(1, p.k)) draws
"""


def timed(engine: Engine, as_of: Any, label: str, force: bool = False) -> dict[str, Any]:
    before = membership_writes(engine)
    started = time.perf_counter()
    result: RefreshRunResult = refresh(engine, None, as_of, trigger="benchmark", force=force)
    seconds = time.perf_counter() - started
    written = membership_writes(engine) - before
    modes = Counter(s.mode or s.status for s in result.segments)
    reasons = Counter(s.reason for s in result.segments if s.mode == "full")
    evaluated = sum(s.evaluated or 0 for s in result.segments if s.mode == "incremental")
    failed = result.failed
    log(f"{label}: {seconds:.1f} s, {written} membership rows written, modes {dict(modes)}, failed {failed}")
    return {
        "seconds": round(seconds, 2),
        "membership_rows_written": written,
        "modes": dict(modes),
        "full_reasons": dict(reasons),
        "profiles_evaluated_incrementally": evaluated,
        "failed": failed,
        "per_segment_ms": {s.key: round(s.duration_ms or 0) for s in result.segments},
    }


def trigger_cost(engine: Engine, rows: int) -> dict[str, Any]:
    """Bulk insert of `rows` events with and without the change-log triggers (both rolled back)."""
    sql = (
        "INSERT INTO segpipe.events (profile_id, name, occurred_at, properties)"
        " SELECT 1 + (g % :n), (ARRAY['view','login','purchase','search'])[1 + g % 4], :t - g * interval '1 s', '{}'"
        " FROM generate_series(1, :m) g"
    )
    with engine.connect() as conn:
        profiles = conn.exec_driver_sql("SELECT max(id) FROM segpipe.profiles").scalar_one()
    seconds = {}
    for label, role in (("with_triggers", "origin"), ("without_triggers", "replica")):
        with engine.connect() as conn, conn.begin() as transaction:
            conn.exec_driver_sql(f"SET LOCAL session_replication_role = {role}")
            started = time.perf_counter()
            conn.execute(sa.text(sql), {"n": profiles, "m": rows, "t": AS_OF})
            seconds[label] = round(time.perf_counter() - started, 2)
            transaction.rollback()
    seconds["overhead"] = round(seconds["with_triggers"] / seconds["without_triggers"] - 1, 3)
    log(f"trigger cost on {rows} events: {seconds}")
    return {"rows": rows, **seconds}


def hourly_step(engine: Engine, as_of: Any, share: float) -> dict[str, Any]:
    started = time.perf_counter()
    with engine.begin() as conn:
        loaded = conn.execute(sa.text(HOURLY_EVENTS_SQL), {"start": as_of, "share": share}).rowcount
        conn.exec_driver_sql("SELECT nextval('segpipe.data_version')")
    load_s = time.perf_counter() - started
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        changes = conn.exec_driver_sql("SELECT count(*) FROM segpipe.profile_changes").scalar_one()
    log(f"hourly load ({share:.0%} of profiles): {loaded} events in {load_s:.1f} s; change log {changes} rows")
    new_as_of = as_of + timedelta(hours=1)
    step = timed(engine, new_as_of, f"hourly incremental refresh-all ({share:.0%})")
    full = timed(engine, new_as_of, f"full recompute, same data and as_of ({share:.0%})", force=True)
    ratio = step["seconds"] / full["seconds"]
    log(f"share {share:.0%}: incremental / full = {ratio:.3f}; full recompute wrote {full['membership_rows_written']}")
    return {
        "share": share,
        "events_loaded": loaded,
        "load_s": round(load_s, 2),
        "change_log_rows": changes,
        "incremental": step,
        "full": full,
        "ratio": round(ratio, 4),
        "members_equal_full_recompute": full["membership_rows_written"] == 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=20_000_000)
    parser.add_argument("--database", default="segpipe_bench_incremental")
    parser.add_argument("--reuse", help="existing benchmark database (skip generation and the first refresh)")
    parser.add_argument("--shares", default="0.01", help="comma-separated shares of profiles with new events")
    parser.add_argument("--no-fallback", action="store_true", help="stay incremental at any affected share")
    parser.add_argument("--trigger-rows", type=int, help="also measure the triggers' cost on this many events")
    args = parser.parse_args()
    if args.no_fallback:
        incremental.MAX_AFFECTED_SHARE = 1.0
    server = os.environ.get("SEGPIPE_BENCH_SERVER_URL", "postgresql+psycopg://root@127.0.0.1:5432/postgres")
    report: dict[str, Any] = {"profiles": args.profiles, "events": args.events, "load_average": os.getloadavg()}
    db_url = create_database(server, args.database) if not args.reuse else None
    db_url = db_url or make_url(server).set(database=args.reuse).render_as_string(hide_password=False)
    engine = get_engine(Settings(database_url=db_url))
    as_of = AS_OF
    if not args.reuse:
        report["generate_s"] = generate(engine, args.profiles, args.events)
        insert_segments(engine, segment_specs())
        reset_memberships(engine)
        report["first_refresh"] = timed(engine, as_of, "first refresh-all")
        report["trigger_cost"] = trigger_cost(engine, args.trigger_rows or max(args.events // 20, 10_000))
    else:
        with engine.connect() as conn:
            as_of = conn.exec_driver_sql("SELECT max(last_refresh_as_of) FROM segpipe.segments").scalar_one()
        if args.trigger_rows:
            report["trigger_cost"] = trigger_cost(engine, args.trigger_rows)
    report["steps"] = []
    for share in (float(s) for s in args.shares.split(",")):
        report["steps"].append(hourly_step(engine, as_of, share))
        as_of += timedelta(hours=1)
    report["load_average_end"] = os.getloadavg()
    print(json.dumps(report, indent=2, default=str), flush=True)
    if not all(step["members_equal_full_recompute"] for step in report["steps"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
