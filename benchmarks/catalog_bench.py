"""Catalog benchmark: render times of the catalog's pages with 1,000 segments and their history, in its own
database; and proof that no page reads events or memberships.

Generates, set-based in SQL: profiles and events (the pages must not read them, so their size only has to be
real enough to notice a scan: `--profiles`, `--events`), 1,000 segments (rules of several kinds; 10% reference
another segment, 5% archived, 5% inactive), `--points` refresh runs in which every segment has a
`segment_refreshes` row (every 10th run incremental, the latest run holds 2% of the segments) and a
`segment_counts` point, `--members` memberships per segment, 300 campaigns (3 segments each) with 3 audience
snapshots each, and 3 definition-history versions per segment. Then it measures, in-process through the ASGI
app (Starlette's TestClient: routing, queries, template rendering; no network), the p50/p95/max of:

- `/segments?status=all` (1,000 rows), `/segments` (active), a search, a sort by change (computed on the page);
- `/segments/KEY` for random keys; `/segments/KEY/trend.svg` drawn (first request) and cached (second);
- `/campaigns/KEY`;

and the pg_stat_user_tables scan counters of events and memberships before and after all requests.

    python benchmarks/catalog_bench.py                                   # 1M profiles, 2M events, fresh database
    python benchmarks/catalog_bench.py --profiles 20000 --events 100000  # quick run
    python benchmarks/catalog_bench.py --reuse segpipe_bench_catalog     # skip generation
    SEGPIPE_BENCH_SERVER_URL=postgresql+psycopg://user@host:5432/postgres python benchmarks/catalog_bench.py
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from starlette.testclient import TestClient

from segpipe.catalog.app import create_app
from segpipe.catalog.options import CatalogOptions
from segpipe.catalog.server import READ_ONLY, catalog_engine
from segpipe.config import Settings
from segpipe.db.engine import get_engine

SEGMENTS = 1000
CAMPAIGNS = 300

DATA_SQL = [
    """INSERT INTO segpipe.profiles (external_id, email, created_at, updated_at, attributes)
       SELECT 'user-' || g, 'user' || g || '@example.com', now() - g * interval '1 minute', now(),
              jsonb_build_object('country', (ARRAY['DE','FR','US','GB'])[1 + g % 4], 'score', g % 1000)
       FROM generate_series(1, :profiles) g""",
    """INSERT INTO segpipe.events (profile_id, name, occurred_at, properties, received_at)
       SELECT 1 + floor(random() * :profiles)::bigint, (ARRAY['view','login','purchase','search'])[1 + g % 4],
              now() - random() * interval '365 days', jsonb_build_object('amount', g % 300), now()
       FROM generate_series(1, :events) g""",
]
SEGMENTS_SQL = """
INSERT INTO segpipe.segments (key, name, description, rules, status, archived, created_at, updated_at,
    definition_changed_at, status_changed_at, status_reason, member_count, last_refreshed_at, last_refresh_as_of)
SELECT 'seg-' || lpad(g::text, 4, '0'), 'Segment ' || g || ' (' || (ARRAY['DE','FR','US','GB'])[1 + g % 4] || ')',
       CASE WHEN g % 3 = 0 THEN 'Bought in the last ' || g % 90 || ' days' END,
       CASE g % 4
           WHEN 0 THEN jsonb_build_object('attribute', 'country', 'op', 'eq', 'value', (ARRAY['DE','FR','US','GB'])[1 + g % 4])
           WHEN 1 THEN jsonb_build_object('event', 'purchase', 'op', 'gte', 'value', 1 + g % 5,
                                          'within', jsonb_build_object('days', 30))
           WHEN 2 THEN jsonb_build_object('all', jsonb_build_array(
                   jsonb_build_object('attribute', 'score', 'op', 'gte', 'value', g % 1000),
                   jsonb_build_object('subscription', 'email', 'status', 'subscribed')))
           ELSE jsonb_build_object('any', jsonb_build_array(
                   jsonb_build_object('event', 'login', 'op', 'eq', 'value', 0, 'within', jsonb_build_object('days', 60)),
                   jsonb_build_object('not', jsonb_build_object('attribute', 'country', 'op', 'eq', 'value', 'DE'))))
       END,
       CASE WHEN g % 20 = 7 THEN 'inactive' ELSE 'active' END, g % 20 = 3,
       now() - interval '90 days', now() - interval '1 day', now() - interval '30 days', now() - interval '30 days',
       'created by apply', 1000 + g * 37 % 50000, now(), now()
FROM generate_series(1, :n) g
"""  # noqa: E501
DEPENDENCIES_SQL = """
INSERT INTO segpipe.segment_dependencies (segment_id, depends_on_id)
SELECT s.id, d.id FROM segpipe.segments s
JOIN segpipe.segments d ON d.key = 'seg-' || lpad((1 + (substr(s.key, 5)::int * 7) % 100)::text, 4, '0')
WHERE substr(s.key, 5)::int % 10 = 0 AND d.id <> s.id
"""
RUNS_SQL = """
INSERT INTO segpipe.refresh_runs (trigger, as_of, started_at, finished_at, flow_run_id)
SELECT 'flow', now() - (:points - g) * interval '1 hour', now() - (:points - g) * interval '1 hour',
       now() - (:points - g) * interval '1 hour' + interval '40 seconds', gen_random_uuid()::text
FROM generate_series(1, :points) g
"""
REFRESHES_SQL = """
INSERT INTO segpipe.segment_refreshes (run_id, segment_id, status, member_count, added, removed, started_at,
    finished_at, duration_ms, mode, evaluated)
SELECT r.id, s.id,
       CASE WHEN r.id = (SELECT max(id) FROM segpipe.refresh_runs) AND s.id % 50 = 0 THEN 'held' ELSE 'succeeded' END,
       s.member_count - (r.id % 7) * 10, 10 + r.id % 7, r.id % 5, r.started_at, r.finished_at, 120.5,
       CASE WHEN r.id % 10 = 0 THEN 'incremental' ELSE 'full' END, 1000
FROM segpipe.refresh_runs r CROSS JOIN segpipe.segments s
"""
COUNTS_SQL = """
INSERT INTO segpipe.segment_counts (segment_id, at, member_count, source)
SELECT s.id, r.finished_at, s.member_count - ((r.id * 13 + s.id) % 11) * 10, 'refresh'
FROM segpipe.refresh_runs r CROSS JOIN segpipe.segments s
"""
MEMBERSHIPS_SQL = """
INSERT INTO segpipe.memberships (segment_id, profile_id, added_at)
SELECT s.id, 1 + (s.id * 7919 + g) % :profiles, now() FROM segpipe.segments s, generate_series(1, :members) g
ON CONFLICT DO NOTHING
"""
CONSUMERS_SQL = [
    """INSERT INTO segpipe.consumers (kind, key, name, status, channel, spec, created_at, updated_at)
       SELECT 'campaign', 'camp-' || g, 'Campaign ' || g, (ARRAY['scheduled','draft','sent'])[1 + g % 3], 'email',
              '{}'::jsonb, now(), now()
       FROM generate_series(1, :campaigns) g""",
    """INSERT INTO segpipe.consumer_segments (consumer_kind, consumer_key, segment_id, role)
       SELECT 'campaign', 'camp-' || g, s.id, CASE WHEN k = 2 THEN 'exclude' ELSE 'include' END
       FROM generate_series(1, :campaigns) g, generate_series(0, 2) k
       JOIN segpipe.segments s ON true
       WHERE s.key = 'seg-' || lpad((1 + (g * 3 + k) % :n)::text, 4, '0')""",
    """INSERT INTO segpipe.audience_snapshots (campaign_key, channel, as_of, created_at, member_count, status,
           checks, finished_at)
       SELECT 'camp-' || g, 'email', now() - k * interval '1 day', now() - k * interval '1 day', 1000 + g, 'ready',
              '{"success": true, "engine": "great_expectations", "checks": [{"name": "not_empty",
                "description": "x", "blocking": true, "success": true, "expected": ">= 1", "observed": 5}]}',
              now()
       FROM generate_series(1, :campaigns) g, generate_series(1, 3) k""",
    """INSERT INTO segpipe.segment_definition_history (segment_key, segment_id, version, change, definition,
           previous, changed_by)
       SELECT s.key, s.id, v, CASE WHEN v = 1 THEN 'created' ELSE 'updated' END,
              jsonb_build_object('name', s.name, 'rules', s.rules), NULL, 'bench'
       FROM segpipe.segments s, generate_series(1, 3) v""",
]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def create_database(server_url: str, name: str) -> str:
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def generate(engine: Engine, args: argparse.Namespace) -> dict[str, float]:
    params = {"profiles": args.profiles, "events": args.events, "n": SEGMENTS, "points": args.points}
    params |= {"members": args.members, "campaigns": CAMPAIGNS}
    steps = [
        ("profiles", DATA_SQL[0]), ("events", DATA_SQL[1]), ("segments", SEGMENTS_SQL),
        ("dependencies", DEPENDENCIES_SQL), ("runs", RUNS_SQL), ("segment_refreshes", REFRESHES_SQL),
        ("segment_counts", COUNTS_SQL), ("memberships", MEMBERSHIPS_SQL),
        *((f"objects {i}", sql) for i, sql in enumerate(CONSUMERS_SQL)),
    ]  # fmt: skip
    timings = {}
    for label, sql in steps:
        started = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(sa.text(sql), params)
        timings[label] = round(time.perf_counter() - started, 1)
        log(f"{label}: {timings[label]} s")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
    return timings


def backend_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a Postgres backend on this machine has used (/proc/PID/stat; 10 ms ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(client: TestClient, paths: list[str], repeat: int = 1, backend: int | None = None) -> dict[str, float]:
    """Wall p50 / p95 / max in ms of GET path (each `repeat` times; every answer must be 200), and the mean CPU
    per request: this process's (all threads: routing, queries' Python side, templates) plus, when `backend` is
    the pid of the app's only Postgres connection, that backend's. On a busy machine wall time is mostly waiting
    for a CPU; CPU time is what a page costs."""
    times = []
    cpu, server = time.process_time(), backend_cpu_s(backend) if backend else 0.0
    for _ in range(repeat):
        for path in paths:
            started = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (path, response.status_code, response.text[:300])
    app_cpu = (time.process_time() - cpu) * 1000 / len(times)
    db_cpu = ((backend_cpu_s(backend) - server) * 1000 / len(times)) if backend else None
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return {"n": len(times), "p50_ms": round(statistics.median(times), 1), "p95_ms": round(p95, 1),
            "max_ms": round(times[-1], 1), "app_cpu_ms": round(app_cpu, 1),
            "db_cpu_ms": None if db_cpu is None else round(db_cpu, 1)}  # fmt: skip


SCANS = """
SELECT relname, seq_scan, coalesce(idx_scan, 0) AS idx_scan FROM pg_stat_user_tables
WHERE schemaname = 'segpipe' AND relname IN ('events', 'memberships') ORDER BY relname
"""


def scans(engine: Engine) -> dict[str, tuple[int, int]]:
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
        return {row.relname: (row.seq_scan, row.idx_scan) for row in conn.execute(sa.text(SCANS))}


def run_pages(settings: Settings, keys: list[str], campaigns: list[str]) -> dict[str, dict[str, float]]:
    """Requests one at a time over one connection (a read-only engine like `catalog_engine`'s, with a pool of 1),
    so that its backend's CPU time is the pages' database CPU."""
    url = catalog_engine(settings).url
    engine = sa.create_engine(url, pool_size=1, max_overflow=0, connect_args={"options": READ_ONLY})
    with engine.connect() as conn:
        backend = int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
    client = TestClient(create_app(engine, CatalogOptions(prefect_ui_url="http://127.0.0.1:4200")))
    client.get("/segments?status=all")  # warm-up: imports, template compilation, pool
    client.get(f"/segments/{keys[0]}")
    client.get(f"/segments/{keys[0]}/trend.svg")
    pick = random.Random(7).sample(keys, 60)
    charts = [f"/segments/{k}/trend.svg" for k in pick[1:21]]
    results: dict[str, Callable[[], dict[str, float]]] = {
        "index, all 1000 segments": lambda: measure(client, ["/segments?status=all"], 30, backend),
        "index, active (default)": lambda: measure(client, ["/segments"], 30, backend),
        "index, search 'DE'": lambda: measure(client, ["/segments?status=all&search=DE"], 30, backend),
        "index, all, sort by -change": lambda: measure(client, ["/segments?status=all&sort=-change"], 30, backend),
        "segment page": lambda: measure(client, [f"/segments/{k}" for k in pick], 2, backend),
        "trend.svg, first request (drawn)": lambda: measure(client, charts, 1, backend),
        "trend.svg, again (cached)": lambda: measure(client, charts, 1, backend),
        "campaign page": lambda: measure(client, [f"/campaigns/{c}" for c in campaigns], 1, backend),
    }
    measured = {}
    for name, run in results.items():
        measured[name] = run()
        log(f"{name}: {measured[name]}")
    engine.dispose()
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--points", type=int, default=200, help="refresh runs = trend points per segment")
    parser.add_argument("--members", type=int, default=1000, help="memberships per segment")
    parser.add_argument("--reuse", help="an existing benchmark database (skip generation)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    server = os.environ.get("SEGPIPE_BENCH_SERVER_URL", "postgresql+psycopg://root@127.0.0.1:5432/postgres")
    name = args.reuse or "segpipe_bench_catalog"
    url = make_url(server).set(database=name).render_as_string(hide_password=False) if args.reuse else None
    url = url or create_database(server, name)
    settings = Settings(database_url=url)
    engine = get_engine(settings)
    report: dict[str, object] = {"database": name, "args": vars(args)}
    if not args.reuse:
        report["generation_s"] = generate(engine, args)
    with engine.connect() as conn:
        keys = list(conn.execute(sa.text("SELECT key FROM segpipe.segments WHERE NOT archived")).scalars())
        campaigns = list(conn.execute(sa.text("SELECT key FROM segpipe.consumers WHERE kind = 'campaign'")).scalars())
        sizes = "SELECT relname, n_live_tup FROM pg_stat_user_tables WHERE schemaname = 'segpipe' ORDER BY relname"
        report["rows"] = {r.relname: r.n_live_tup for r in conn.execute(sa.text(sizes)) if r.n_live_tup}
    engine.dispose()  # the statistics of this process's sessions are flushed when they end
    time.sleep(1.5)
    before = scans(engine)
    report["load_average_before"] = os.getloadavg()
    report["pages"] = run_pages(settings, keys, campaigns)
    report["load_average_after"] = os.getloadavg()
    time.sleep(1.5)  # the catalog's backends have exited: their statistics are flushed
    after = scans(engine)
    report["events_memberships_scans"] = {"before": before, "after": after, "unchanged": before == after}
    print(json.dumps(report, indent=2, default=str))
    engine.dispose()
    if not args.reuse and not args.keep:
        admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


if __name__ == "__main__":
    main()
