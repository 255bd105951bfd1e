"""Orchestration benchmark: what the Prefect flows cost on top of the domain, and pre-send latency at 1M profiles.

1. Overhead per segment: refresh-all of N tiny segments (default 500, attribute rules over 1,000 profiles),
   forced, through the engine directly and through the `refresh_all` flow against a real `prefect server`, in
   the same run (alternating, best of `--repeat`). Overhead = (flow − direct) / N. Target: < 30 ms per segment.
2. Pre-send latency: a campaign whose audience is ~1M of 1.2M profiles (include: two segments, exclude: one,
   5% unsubscribed on email): the domain steps timed one by one (refresh, snapshot INSERT ... SELECT, GX checks,
   finish), then the whole `presend_refresh` flow.

    python benchmarks/flows_bench.py                         # both parts, fresh databases
    python benchmarks/flows_bench.py --segments 100 --audience 100000
    SEGPIPE_BENCH_SERVER_URL=postgresql+psycopg://user@host:5432/postgres python benchmarks/flows_bench.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from segpipe.config import Settings
from segpipe.db.engine import get_engine

AS_OF = datetime(2026, 3, 1, 12, tzinfo=UTC)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextmanager
def database(server_url: str, prefix: str) -> Iterator[str]:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def cpu_timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall seconds, this process's CPU seconds, value): CPU time is steady on a shared machine, wall time not."""
    cpu = time.process_time()
    seconds, value = timed(fn)
    return seconds, time.process_time() - cpu, value


def seed_tiny(engine: Engine, segments: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO segpipe.profiles (external_id, attributes)"
                " SELECT 'p' || i, jsonb_build_object('n', i) FROM generate_series(1, 1000) AS i"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO segpipe.segments (key, name, rules) SELECT 's' || i, 'Segment ' || i,"
                " jsonb_build_object('attribute', 'n', 'op', 'gte', 'value', i) FROM generate_series(1, :n) AS i"
            ),
            {"n": segments},
        )
        conn.execute(sa.text("ANALYZE segpipe.profiles"))


def overhead(engine: Engine, segments: int, repeat: int) -> dict[str, Any]:
    from flows.refresh import refresh_all
    from segpipe.refresh.engine import refresh

    seed_tiny(engine, segments)
    refresh_all(as_of=AS_OF, force=True, return_state=True)  # warm: imports, connections, first flow run
    direct, flow, direct_cpu, flow_cpu = [], [], [], []
    for _ in range(repeat):
        seconds, cpu, result = cpu_timed(lambda: refresh(engine, None, AS_OF, force=True))
        assert len(result.segments) == segments and not result.failed
        direct.append(seconds)
        direct_cpu.append(cpu)
        seconds, cpu, state = cpu_timed(lambda: refresh_all(as_of=AS_OF, force=True, return_state=True))
        assert state.is_completed(), state.message
        flow.append(seconds)
        flow_cpu.append(cpu)
    return {
        "segments": segments,
        "direct_s": [round(s, 2) for s in direct],
        "flow_s": [round(s, 2) for s in flow],
        "direct_per_segment_ms": round(1000 * min(direct) / segments, 1),
        "flow_per_segment_ms": round(1000 * min(flow) / segments, 1),
        "overhead_per_segment_ms": round(1000 * (min(flow) - min(direct)) / segments, 1),
        "client_cpu_overhead_per_segment_ms": round(1000 * (min(flow_cpu) - min(direct_cpu)) / segments, 1),
    }


SEED_AUDIENCE = [
    "INSERT INTO segpipe.profiles (external_id, email, attributes) SELECT 'u' || i, 'u' || i || '@example.com',"
    " jsonb_build_object('country', CASE WHEN i % 11 = 0 THEN 'US' WHEN i % 2 = 0 THEN 'DE' ELSE 'FR' END,"
    " 'plan', CASE WHEN i % 50 = 0 THEN 'staff' ELSE 'free' END) FROM generate_series(1, :n) AS i",
    "INSERT INTO segpipe.subscriptions (profile_id, channel, status, updated_at)"
    " SELECT id, 'email', 'unsubscribed', '2026-01-01' FROM segpipe.profiles WHERE id % 20 = 0",
    "ANALYZE segpipe.profiles",
    "ANALYZE segpipe.subscriptions",
]

OBJECTS = """
kind: Segment
key: de
name: Germany
rules: {attribute: country, op: eq, value: DE}
---
kind: Segment
key: fr
name: France
rules: {attribute: country, op: eq, value: FR}
---
kind: Segment
key: staff
name: Staff
rules: {attribute: plan, op: eq, value: staff}
---
kind: Campaign
key: launch
name: Launch
channel: email
status: scheduled
include: [de, fr]
exclude: [staff]
"""


def seed_audience(engine: Engine, url: str, profiles: int) -> None:
    from typer.testing import CliRunner

    from segpipe.cli.main import app

    with engine.begin() as conn:
        for statement in SEED_AUDIENCE:
            conn.execute(sa.text(statement), {"n": profiles})
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "objects.yaml"
        path.write_text(OBJECTS)
        result = CliRunner().invoke(app, ["apply", str(path)], env={"SEGPIPE_DATABASE_URL": url})
        assert result.exit_code == 0, result.output


def presend_latency(engine: Engine, url: str, profiles: int) -> dict[str, Any]:
    from flows.presend import presend_refresh
    from segpipe.refresh import presend as p
    from segpipe.refresh.engine import refresh

    seconds, _ = timed(lambda: seed_audience(engine, url, profiles))
    log(f"seeded {profiles:,} profiles in {seconds:.1f} s")
    steps: dict[str, float] = {}
    with engine.begin() as conn:
        campaign = p.load_campaign(conn, "launch")
    steps["refresh_s"], run = timed(lambda: refresh(engine, campaign.segment_keys, AS_OF, trigger="bench"))
    steps["snapshot_s"], snapshot = timed(lambda: p.write_snapshot(engine, campaign, run.as_of))
    steps["checks_s"], report = timed(lambda: p.check_snapshot(engine, snapshot, False, 0.5))
    steps["finish_s"], result = timed(lambda: p.finish_snapshot(engine, snapshot, report))
    direct_total, _ = timed(lambda: p.presend(engine, "launch", AS_OF, max_change=0.5))
    flow_total, data = timed(lambda: presend_refresh(campaign_key="launch", as_of=AS_OF.replace(minute=1)))
    return {
        "profiles": profiles,
        "audience": result.count,
        "steps_first_run": {k: round(v, 2) for k, v in steps.items()},
        "direct_total_s": round(direct_total, 2),
        "flow_total_s": round(flow_total, 2),
        "flow_count": data["count"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--segments", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--audience", type=int, default=1_200_000, help="profiles in the pre-send part")
    parser.add_argument("--skip-presend", action="store_true")
    parser.add_argument("--skip-overhead", action="store_true")
    args = parser.parse_args()
    server_url = os.environ.get("SEGPIPE_BENCH_SERVER_URL", "postgresql+psycopg://root@127.0.0.1:5432/postgres")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from tests.prefect_server import start_prefect_server

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as home:
        for server in start_prefect_server(Path(home)):
            os.environ.update(server.env())
            if not args.skip_overhead:
                with database(server_url, "segpipe_bench_flows") as url:
                    os.environ["SEGPIPE_DATABASE_URL"] = url
                    results["overhead"] = overhead(get_engine(Settings(database_url=url)), args.segments, args.repeat)
                    log(json.dumps(results["overhead"]))
            if not args.skip_presend:
                with database(server_url, "segpipe_bench_presend") as url:
                    os.environ["SEGPIPE_DATABASE_URL"] = url
                    results["presend"] = presend_latency(get_engine(Settings(database_url=url)), url, args.audience)
                    log(json.dumps(results["presend"]))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
