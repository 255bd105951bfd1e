"""Refresh benchmark: refresh-all of 100 mixed segments over 1M profiles / 20M events, in its own database.

Generates the data set in SQL (generate_series, set-based; events loaded before their secondary indexes are
built), inserts 100 segments of realistic mixed rules (attributes, event counts and sums in windows, `where`
filters, subscriptions, segment references, all/any/not), then measures:

- refresh-all from empty memberships (the engine: shared event scans, compiled rules, temp table, diff write,
  run records), with the time of each shared scan the run built;
- the baseline: hand-written SQL per segment, `CREATE TEMP TABLE ... AS SELECT` (compute only), and the ratios;
- a no-change refresh at the same as_of (everything up to date) and at a new as_of with no data change
  (everything recomputed): membership rows written (pg_stat_user_tables deltas) and time;
- the same recompute without shared scans (every segment's query scans events itself): its time, and the
  membership rows it writes, which must be 0 (it finds exactly the members the shared run stored);
- EXPLAIN ANALYZE of the slowest compiled segments; point-evaluation latency if segpipe.refresh.profile_check exists;
- streamed export of the largest segment (csv, parquet) through the CLI, with the child's peak RSS;
- this process's peak RSS.

    python benchmarks/refresh_bench.py                                  # 1M / 20M, fresh database
    python benchmarks/refresh_bench.py --profiles 20000 --events 400000 # quick run
    python benchmarks/refresh_bench.py --reuse segpipe_bench_refresh    # skip generation
    SEGPIPE_BENCH_SERVER_URL=postgresql+psycopg://user@host:5432/postgres python benchmarks/refresh_bench.py
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from segpipe.config import Settings
from segpipe.db.engine import get_engine
from segpipe.refresh import feature_tables
from segpipe.refresh import shared as shared_plan
from segpipe.refresh.engine import SegmentRefreshResult, refresh
from segpipe.refresh.membership import compile_segment
from segpipe.store import memberships
from segpipe.store.runs import run_segment_refreshes
from segpipe.store.segments import get_segment

AS_OF = datetime(2026, 3, 1, 12, 0, 0, 500000, tzinfo=UTC)
COUNTRIES = ["DE", "FR", "US", "GB", "ES", "IT", "NL", "PL"]
PLANS = ["free", "pro", "team", "enterprise"]
CATEGORIES = ["books", "games", "music", "food"]
SETTINGS = "SET LOCAL work_mem = '256MB'; SET LOCAL jit = off"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# Data ---------------------------------------------------------------------------------------------------------

PROFILES_SQL = """
INSERT INTO segpipe.profiles (external_id, email, created_at, updated_at, attributes)
SELECT 'user-' || g,
       'user' || g || CASE WHEN g % 10 = 0 THEN '@example.org' ELSE '@example.com' END,
       date_trunc('second', timestamptz '2024-01-01' + random() * interval '790 days'),
       now(),
       jsonb_build_object(
           'country', (ARRAY['DE','FR','US','GB','ES','IT','NL','PL'])[1 + floor(random() * 8)::int],
           'plan', (ARRAY['free','pro','team','enterprise'])[1 + floor(random() * 4)::int],
           'score', CASE WHEN random() < 0.03 THEN to_jsonb('n/a'::text) ELSE to_jsonb(floor(random() * 1000)::int) END,
           'vip', random() < 0.02)
FROM generate_series(1, :n) g
"""

# Activity is skewed (power law on the profile id); ten event names with realistic frequencies; 1% of events lie
# after as_of (they must never count); purchase amounts are sometimes strings (they must not be summed).
EVENTS_SQL = """
INSERT INTO segpipe.events (profile_id, name, occurred_at, properties)
SELECT profile_id, name,
       CASE WHEN random() < 0.01 THEN :as_of + random() * interval '20 days'
            ELSE date_trunc('second', :as_of - interval '1 second' - random() * interval '365 days') END,
       CASE name
           WHEN 'purchase' THEN jsonb_build_object(
               'amount', CASE WHEN random() < 0.02 THEN to_jsonb('12.50'::text)
                              ELSE to_jsonb(round((5 + random() * 295)::numeric, 2)) END,
               'category', (ARRAY['books','games','music','food'])[1 + floor(random() * 4)::int])
           WHEN 'view' THEN jsonb_build_object('page', '/p/' || floor(random() * 200)::int)
           ELSE '{}'::jsonb END
FROM (
    SELECT 1 + floor(power(random(), 2) * :n)::bigint AS profile_id,
           CASE WHEN r < 0.35 THEN 'view' WHEN r < 0.55 THEN 'login' WHEN r < 0.65 THEN 'search'
                WHEN r < 0.73 THEN 'add_to_cart' WHEN r < 0.80 THEN 'purchase' WHEN r < 0.86 THEN 'logout'
                WHEN r < 0.91 THEN 'share' WHEN r < 0.95 THEN 'review' WHEN r < 0.98 THEN 'signup'
                ELSE 'refund' END AS name
    FROM (SELECT random() AS r FROM generate_series(1, :m)) draws
) e
"""

SUBSCRIPTIONS_SQL = """
INSERT INTO segpipe.subscriptions (profile_id, channel, status, updated_at)
SELECT 1 + floor(random() * :n)::bigint,
       (ARRAY['email','sms','push'])[1 + floor(random() * 3)::int],
       CASE WHEN random() < 0.7 THEN 'unsubscribed' ELSE 'subscribed' END,
       date_trunc('second', :as_of + interval '5 days' - random() * interval '400 days')
FROM generate_series(1, :s)
"""

EVENT_INDEXES = {
    "events_name_time_idx": "CREATE INDEX events_name_time_idx ON segpipe.events (name, occurred_at)",
    "events_profile_name_time_idx": (
        "CREATE INDEX events_profile_name_time_idx ON segpipe.events (profile_id, name, occurred_at)"
    ),
}


def create_database(server_url: str, name: str) -> str:
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def generate(engine: Engine, profiles: int, events: int) -> dict[str, float]:
    timings = {}
    params = {"n": profiles, "m": events, "s": profiles // 3, "as_of": AS_OF}
    steps = [("profiles", PROFILES_SQL), ("events", EVENTS_SQL), ("subscriptions", SUBSCRIPTIONS_SQL)]
    with engine.begin() as conn:
        conn.exec_driver_sql("SELECT setseed(0.42)")
        for name in EVENT_INDEXES:
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS segpipe.{name}")
    for label, sql in steps:
        started = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(sa.text(sql), params)
        timings[label] = time.perf_counter() - started
        log(f"generated {label} in {timings[label]:.1f} s")
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '1GB'")
        for ddl in EVENT_INDEXES.values():
            conn.exec_driver_sql(ddl)
        conn.exec_driver_sql("SELECT nextval('segpipe.data_version')")
    timings["event_indexes"] = time.perf_counter() - started
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE segpipe.profiles, segpipe.events, segpipe.subscriptions")
    log(f"indexes + analyze done in {time.perf_counter() - started:.1f} s")
    return timings


# Segments: (rules, hand-written baseline SQL) -------------------------------------------------------------------

Spec = tuple[dict[str, Any], str]
PROFILES = "SELECT id AS profile_id FROM segpipe.profiles"


def window(days: int) -> str:
    return f"occurred_at > :as_of - interval '{days} days' AND occurred_at <= :as_of"


def attr_eq(name: str, value: str) -> Spec:
    return {"attribute": name, "op": "eq", "value": value}, f"{PROFILES} WHERE attributes->>'{name}' = '{value}'"


def score_gte(n: int) -> Spec:
    sql = f"{PROFILES} WHERE jsonb_typeof(attributes->'score') = 'number' AND (attributes->>'score')::numeric >= {n}"
    return {"attribute": "score", "op": "gte", "value": n}, sql


def event_count(name: str, op: str, value: Any, days: int | None, where: str = "", where_rule: Any = None) -> Spec:
    rule: dict[str, Any] = {"event": name, "op": op, "value": value}
    if days is not None:
        rule["within"] = {"days": days}
    if where_rule:
        rule["where"] = where_rule
    test = {"gte": f">= {value}", "between": f"BETWEEN {value[0]} AND {value[1]}" if op == "between" else ""}[op]
    scope = window(days) if days is not None else "occurred_at <= :as_of"
    sql = f"SELECT profile_id FROM segpipe.events WHERE name = '{name}' AND {scope}{where} GROUP BY profile_id"
    return rule, f"{sql} HAVING count(*) {test}"


def never(name: str) -> Spec:
    sql = (
        f"{PROFILES} p WHERE NOT EXISTS (SELECT 1 FROM segpipe.events e WHERE e.profile_id = p.id"
        f" AND e.name = '{name}' AND e.occurred_at <= :as_of)"
    )
    return {"event": name, "op": "eq", "value": 0}, sql


def amount(aggregate: str, op: str, value: float, days: int) -> Spec:
    rule = {"event": "purchase", "aggregate": aggregate, "property": "amount", "op": op, "value": value,
            "within": {"days": days}}  # fmt: skip
    sql = (
        f"SELECT profile_id FROM segpipe.events WHERE name = 'purchase' AND {window(days)}"
        " AND jsonb_typeof(properties->'amount') = 'number' GROUP BY profile_id"
        f" HAVING {aggregate}((properties->>'amount')::numeric) {'>=' if op == 'gte' else '>'} {value}"
    )
    return rule, sql


def subscription(channel: str, status: str) -> Spec:
    latest = (
        "SELECT DISTINCT ON (profile_id) profile_id, status FROM segpipe.subscriptions"
        f" WHERE channel = '{channel}' AND updated_at <= :as_of ORDER BY profile_id, updated_at DESC, id DESC"
    )
    if status == "unsubscribed":
        sql = f"SELECT profile_id FROM ({latest}) l WHERE status = 'unsubscribed'"
    else:
        sql = f"{PROFILES} EXCEPT SELECT profile_id FROM ({latest}) l WHERE status = 'unsubscribed'"
    return {"subscription": channel, "status": status}, sql


def ref(key: str) -> Spec:
    sql = (
        "SELECT profile_id FROM segpipe.memberships"
        f" WHERE segment_id = (SELECT id FROM segpipe.segments WHERE key = '{key}')"
    )
    return {"segment": key}, sql


def all_(*parts: Spec) -> Spec:
    return {"all": [p[0] for p in parts]}, " INTERSECT ".join(f"({p[1]})" for p in parts)


def any_(*parts: Spec) -> Spec:
    return {"any": [p[0] for p in parts]}, " UNION ".join(f"({p[1]})" for p in parts)


def not_(part: Spec) -> Spec:
    return {"not": part[0]}, f"{PROFILES} EXCEPT ({part[1]})"


def template(t: int, v: int, key_of: dict[tuple[int, int], str]) -> Spec:
    """Segment number 20 * v + t: twenty templates, five parameter variants each."""
    builders = {
        0: lambda: attr_eq("country", COUNTRIES[v]),
        1: lambda: (
            {"attribute": "plan", "op": "in", "value": [PLANS[v % 4], PLANS[(v + 1) % 4]]},
            f"{PROFILES} WHERE attributes->>'plan' IN ('{PLANS[v % 4]}', '{PLANS[(v + 1) % 4]}')",
        ),
        2: lambda: score_gte(200 * v + 100),
        3: lambda: (
            {"attribute": "created_at", "op": "within_last", "value": {"days": 30 * (v + 1)}},
            f"{PROFILES} WHERE created_at > :as_of - interval '{30 * (v + 1)} days' AND created_at <= :as_of",
        ),
        4: lambda: event_count("purchase", "gte", v + 1, 30),
        5: lambda: event_count("login", "gte", 1, 7 * (v + 1)),
        6: lambda: never(["refund", "review", "share", "signup", "logout"][v]),
        7: lambda: amount("sum", "gte", 100 * (v + 1), 90),
        8: lambda: event_count(
            "purchase",
            "gte",
            1,
            60,
            f" AND properties->>'category' = '{CATEGORIES[v % 4]}'",
            [{"property": "category", "op": "eq", "value": CATEGORIES[v % 4]}],
        ),
        9: lambda: subscription(["email", "sms", "push", "email", "sms"][v], ["unsubscribed", "subscribed"][v % 2]),
        10: lambda: all_(attr_eq("country", COUNTRIES[(v + 3) % 8]), event_count("purchase", "gte", 2, 30)),
        11: lambda: any_(
            ({"attribute": "vip", "op": "eq", "value": True}, f"{PROFILES} WHERE attributes->'vip' = 'true'"),
            amount("sum", "gte", 500 + 100 * v, 365),
        ),
        12: lambda: all_(
            (
                {"attribute": "email", "op": "ends_with", "value": "@example.org"},
                f"{PROFILES} WHERE email LIKE '%@example.org'",
            ),
            not_(event_count("login", "gte", 1, 30 + v)),
        ),
        13: lambda: amount("avg", "gt", 100 + 20 * v, 180),
        14: lambda: all_(ref(key_of[(0, v)]), ref(key_of[(4, v)])),
        15: lambda: all_(ref(key_of[(7, v)]), not_(ref(key_of[(9, v)]))),
        16: lambda: event_count("view", "between", [5, 20 + v], 30),
        17: lambda: all_(attr_eq("plan", "pro"), score_gte(500), event_count("login", "gte", 1, 14 + v)),
        18: lambda: not_(any_(event_count("purchase", "gte", 1, 365), event_count("add_to_cart", "gte", 1, 30 + v))),
        19: lambda: amount("max", "gte", 250 + 5 * v, 90),
    }
    return builders[t]()


def segment_specs() -> dict[str, tuple[dict[str, Any], str, list[str]]]:
    """key → (rules, baseline SQL, referenced keys), 100 segments in dependency order."""
    key_of: dict[tuple[int, int], str] = {}
    specs = {}
    for v in range(5):
        for t in range(20):
            key = f"s{20 * v + t:03d}-t{t:02d}"
            key_of[(t, v)] = key
            rules, sql = template(t, v, key_of)
            refs = [key_of[(r, v)] for r in {14: (0, 4), 15: (7, 9)}.get(t, ())]
            specs[key] = (rules, sql, refs)
    return specs


def insert_segments(engine: Engine, specs: dict[str, tuple[dict[str, Any], str, list[str]]]) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE segpipe.segments, segpipe.refresh_runs CASCADE")
        for key, (rules, _, refs) in specs.items():
            segment_id = conn.execute(
                sa.text(
                    "INSERT INTO segpipe.segments (key, name, rules) VALUES (:k, :k, CAST(:r AS jsonb)) RETURNING id"
                ),
                {"k": key, "r": json.dumps(rules)},
            ).scalar_one()
            for dep in refs:
                conn.execute(
                    sa.text(
                        "INSERT INTO segpipe.segment_dependencies SELECT :i, id FROM segpipe.segments WHERE key = :d"
                    ),
                    {"i": segment_id, "d": dep},
                )


# Measurements -------------------------------------------------------------------------------------------------


def membership_writes(engine: Engine) -> int:
    """Rows inserted + deleted in segpipe.memberships so far (statistics of other sessions flush within ~1 s)."""
    time.sleep(1.5)
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
        query = (
            "SELECT n_tup_ins + n_tup_del FROM pg_stat_user_tables"
            " WHERE schemaname = 'segpipe' AND relname = 'memberships'"
        )
        return int(conn.exec_driver_sql(query).scalar_one())


SHARED_BUILDS: list[dict[str, Any]] = []


def _record_builds() -> None:
    """Time the shared-scan builds (the engine does not record them: they are part of a segment's duration)."""
    build = feature_tables._build_group

    def timed(conn: Any, run_id: int, grp: int, as_of: datetime) -> None:
        started = time.perf_counter()
        build(conn, run_id, grp, as_of)
        seconds = time.perf_counter() - started
        table = feature_tables.catalog(run_id)
        keys = conn.execute(sa.select(table.c.feature).where(table.c.grp == grp)).scalars().all()
        conn.rollback()
        names = sorted({json.loads(key)["event"] for key in keys})
        SHARED_BUILDS.append({"group": grp, "names": names, "features": len(keys), "seconds": round(seconds, 2)})

    feature_tables._build_group = timed  # type: ignore[assignment]


def shared_scans() -> list[dict[str, Any]]:
    """The build of each group (its slowest call: the others found it built)."""
    slowest = {b["group"]: b for b in sorted(SHARED_BUILDS, key=lambda b: b["seconds"])}
    return [slowest[grp] for grp in sorted(slowest)]


def timed_refresh(engine: Engine, as_of: datetime, label: str, shared: bool = True) -> dict[str, Any]:
    before = membership_writes(engine)
    SHARED_BUILDS.clear()
    started = time.perf_counter()
    threshold = shared_plan.MIN_CONSUMERS
    if not shared:  # no event name is read by this many segments: the run plans no shared scan
        shared_plan.MIN_CONSUMERS = sys.maxsize
    try:
        result = refresh(engine, None, as_of, trigger="benchmark")
    finally:
        shared_plan.MIN_CONSUMERS = threshold
    seconds = time.perf_counter() - started
    written = membership_writes(engine) - before
    statuses = {s: sum(1 for r in result.segments if r.status == s) for s in {r.status for r in result.segments}}
    log(f"{label}: {seconds:.1f} s, {written} membership rows written, {statuses}, shared scans {shared_scans()}")
    per_segment = {r.key: r for r in result.segments}
    return {
        "seconds": seconds,
        "membership_rows_written": written,
        "statuses": statuses,
        "shared_scans": shared_scans(),
        "segments": per_segment,
    }


def baseline(engine: Engine, specs: dict[str, tuple[dict[str, Any], str, list[str]]]) -> dict[str, Any]:
    """Hand-written SQL per segment, materialized like the engine does (temp table), compute only."""
    times, counts = {}, {}
    for key, (_, sql, _) in specs.items():
        with engine.begin() as conn:
            for statement in SETTINGS.split(";"):
                conn.exec_driver_sql(statement)
            started = time.perf_counter()
            conn.execute(sa.text(f"CREATE TEMP TABLE baseline ON COMMIT DROP AS {sql}"), {"as_of": AS_OF})
            times[key] = time.perf_counter() - started
            counts[key] = conn.exec_driver_sql("SELECT count(DISTINCT profile_id) FROM baseline").scalar_one()
    log(f"baseline: {sum(times.values()):.1f} s")
    return {"seconds": sum(times.values()), "times": times, "counts": counts}


def explain(engine: Engine, key: str, as_of: datetime) -> str:
    with engine.begin() as conn:
        for statement in SETTINGS.split(";"):
            conn.exec_driver_sql(statement)
        segment = get_segment(conn, key)
        assert segment is not None

        def resolve(ref: str) -> sa.Select[Any]:
            found = get_segment(conn, ref)
            assert found is not None
            return memberships.members_of(found.id)

        query = compile_segment(segment, as_of, resolve)
        compiled = query.compile(dialect=conn.dialect)
        rows = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}", compiled.params).scalars()
        return "\n".join(rows)


def point_latency(engine: Engine, keys: list[str], samples: int = 200) -> dict[str, Any] | None:
    try:
        from segpipe.refresh.profile_check import is_member  # type: ignore[attr-defined]
    except ImportError:
        return None
    import inspect
    import random

    rng = random.Random(7)
    with engine.connect() as conn:
        ids = (
            conn.exec_driver_sql("SELECT external_id FROM segpipe.profiles TABLESAMPLE SYSTEM (1) LIMIT 1000")
            .scalars()
            .all()
        )
    latencies = []
    signature = str(inspect.signature(is_member))
    for _ in range(samples):
        key, external_id = rng.choice(keys), rng.choice(ids)
        started = time.perf_counter()
        with engine.connect() as conn:
            is_member(conn, external_id, key, AS_OF)
        latencies.append((time.perf_counter() - started) * 1000)
    latencies.sort()
    return {
        "signature": signature,
        "samples": samples,
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[int(0.99 * (samples - 1))],
    }


def export_run(db_url: str, key: str, fmt: str) -> dict[str, Any]:
    """`segpipe segment members KEY --no-refresh` to a file, in a child process; its time and peak RSS."""
    out = Path(tempfile.gettempdir()) / f"segpipe-bench-members.{fmt}"
    code = (
        "import resource, sys; from segpipe.cli.main import app\n"
        "try:\n    app(sys.argv[1:])\nexcept SystemExit as exc:\n    code = exc.code\n"
        "print('RSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    )
    args = ["segment", "members", key, "--no-refresh", "--format", fmt, "--output", str(out), "--json"]
    env = {**os.environ, "SEGPIPE_DATABASE_URL": db_url}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    rss_kb = int(next(line.split()[1] for line in proc.stderr.splitlines() if line.startswith("RSS")))
    summary = json.loads(proc.stdout)
    size = out.stat().st_size
    out.unlink()
    return {"format": fmt, "rows": summary["rows"], "seconds": seconds, "peak_rss_mb": rss_kb / 1024, "bytes": size}


def machine(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        settings = {name: conn.exec_driver_sql(f"SHOW {name}").scalar_one() for name in SERVER_SETTINGS}
        version = conn.exec_driver_sql("SHOW server_version").scalar_one()
    return {"cpus": os.cpu_count(), "load_average_end": os.getloadavg(), "postgres": version, **settings}


SERVER_SETTINGS = ("shared_buffers", "max_wal_size", "max_parallel_workers_per_gather", "autovacuum")


def reset_memberships(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE segpipe.memberships, segpipe.segment_counts, segpipe.refresh_runs CASCADE")
        conn.exec_driver_sql(
            "UPDATE segpipe.segments SET member_count = NULL, last_refreshed_at = NULL, last_refresh_as_of = NULL,"
            " refreshed_data_version = NULL"
        )


def load_runs(engine: Engine) -> dict[str, dict[str, Any]]:
    """The latest benchmark runs recorded in the database: full (from empty), same as_of, new as_of (shared
    scans), new as_of (per segment)."""
    query = (
        "SELECT r.id, r.as_of, extract(epoch FROM r.finished_at - r.started_at) AS seconds,"
        " sum(coalesce(s.added, 0) + coalesce(s.removed, 0)) AS written"
        " FROM segpipe.refresh_runs r JOIN segpipe.segment_refreshes s ON s.run_id = r.id"
        " WHERE r.trigger = 'benchmark' GROUP BY r.id ORDER BY r.id DESC LIMIT 4"
    )
    with engine.connect() as conn:
        rows = list(reversed(conn.exec_driver_sql(query).mappings().all()))
        runs_ = {}
        for label, row in zip(RUNS, rows, strict=True):
            segments = {
                key: SegmentRefreshResult(key, r.status, r.member_count, r.added, r.removed, r.duration_ms)
                for key, r in run_segment_refreshes(conn, row["id"])
            }
            statuses = {st: sum(1 for r in segments.values() if r.status == st) for st in ("succeeded", "failed")}
            runs_[label] = {
                "seconds": float(row["seconds"]),
                "membership_rows_written": int(row["written"]),
                "statuses": statuses,
                "segments": segments,
            }
        return runs_


def compare(runs_: dict[str, dict[str, Any]], base: dict[str, Any]) -> dict[str, Any]:
    """Totals and the slowest segments: engine recompute (no-change run: compute, no writes) against baseline."""
    full, moved, alone = runs_["full"], runs_["moved"], runs_["per_segment"]
    segments, recompute = full["segments"], moved["segments"]
    mismatches = {k: (segments[k].member_count, n) for k, n in base["counts"].items() if segments[k].member_count != n}
    seconds = {k: r.duration_ms / 1000 for k, r in recompute.items()}
    slowest = sorted(seconds, key=seconds.get, reverse=True)[:10]
    return {
        "ratio_full_refresh_over_baseline": full["seconds"] / base["seconds"],
        "ratio_recompute_over_baseline": moved["seconds"] / base["seconds"],
        "ratio_recompute_per_segment_over_baseline": alone["seconds"] / base["seconds"],
        "shared_scans_speedup_of_recompute": alone["seconds"] / moved["seconds"],
        "count_mismatches": mismatches,
        "slowest": [
            {
                "key": k,
                "recompute_s": round(seconds[k], 2),
                "full_s": round(segments[k].duration_ms / 1000, 2),
                "baseline_s": round(base["times"][k], 2),
                "members": segments[k].member_count,
            }
            for k in slowest
        ],
        "member_total": sum(r.member_count or 0 for r in segments.values()),
    }


STEPS = ("refresh", "baseline", "point", "export", "explain")
RUNS = ("full", "same", "moved", "per_segment")


def refresh_step(engine: Engine, specs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    insert_segments(engine, specs)
    reset_memberships(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("CHECKPOINT")
    return {
        "full": timed_refresh(engine, AS_OF, "full refresh-all"),
        "same": timed_refresh(engine, AS_OF, "no-change refresh, same as_of"),
        "moved": timed_refresh(engine, AS_OF + timedelta(milliseconds=1), "no-change refresh, new as_of"),
        "per_segment": timed_refresh(
            engine, AS_OF + timedelta(milliseconds=2), "no-change refresh, new as_of, no shared scans", shared=False
        ),
    }


def summarize_runs(report: dict[str, Any], runs_: dict[str, dict[str, Any]]) -> None:
    names = ("full", "no_change_same_as_of", "no_change_new_as_of", "no_change_new_as_of_per_segment")
    for label, name in zip(RUNS, names, strict=True):
        report[name] = {k: v for k, v in runs_[label].items() if k != "segments"}
    report["no_change_ratio_same_as_of"] = runs_["same"]["seconds"] / runs_["full"]["seconds"]
    report["no_change_ratio_new_as_of"] = runs_["moved"]["seconds"] / runs_["full"]["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=20_000_000)
    parser.add_argument("--database", default="segpipe_bench_refresh", help="database to (re)create")
    parser.add_argument("--reuse", help="existing benchmark database (skip generation)")
    parser.add_argument("--steps", default=",".join(STEPS), help=f"comma-separated subset of {', '.join(STEPS)}")
    parser.add_argument("--explain", type=int, default=3, help="EXPLAIN ANALYZE the N slowest segments")
    args = parser.parse_args()
    steps = set(args.steps.split(","))
    server = os.environ.get("SEGPIPE_BENCH_SERVER_URL", "postgresql+psycopg://root@127.0.0.1:5432/postgres")
    report: dict[str, Any] = {"profiles": args.profiles, "events": args.events, "load_average_start": os.getloadavg()}
    _record_builds()
    if args.reuse:
        db_url = make_url(server).set(database=args.reuse).render_as_string(hide_password=False)
    else:
        db_url = create_database(server, args.database)
    engine = get_engine(Settings(database_url=db_url))
    if not args.reuse:
        report["generate_s"] = generate(engine, args.profiles, args.events)
    specs = segment_specs()
    runs_ = refresh_step(engine, specs) if "refresh" in steps else load_runs(engine)
    summarize_runs(report, runs_)
    if "baseline" in steps:
        base = baseline(engine, specs)
        report["baseline_s"] = base["seconds"]
        report.update(compare(runs_, base))
    if "point" in steps:
        report["point"] = point_latency(engine, list(specs))
    if "export" in steps:
        largest = max(runs_["full"]["segments"].values(), key=lambda r: r.member_count or 0).key
        report["export"] = [export_run(db_url, largest, fmt) for fmt in ("csv", "parquet")]
    report["python_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report["machine"] = machine(engine)
    print(json.dumps(report, indent=2, default=str), flush=True)
    if "explain" in steps:
        for item in report.get("slowest", [])[: args.explain]:
            print(f"\n--- EXPLAIN ANALYZE {item['key']} ---\n{explain(engine, item['key'], AS_OF)}", flush=True)


if __name__ == "__main__":
    main()
