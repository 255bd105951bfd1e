"""Export benchmark: stream a 1M-member segment as csv, csv with --hash sha256, JSON Lines and Parquet.

Builds its own database (1M profiles with an email and a few attributes; segments of 1k, 500k and 1M members,
set-based with generate_series). Then it exports each segment once per format the way
`segpipe segment members KEY --no-refresh --output FILE` does (segpipe.cli.members: build_request + export),
each in a child process, and reports the export's time, rows per second, file size and the child's peak RSS:
flat memory means the peaks do not grow with the number of members.

    python benchmarks/export_bench.py                     # 1M members, fresh database
    python benchmarks/export_bench.py --members 100000    # quick run
    python benchmarks/export_bench.py --reuse             # keep the database of the previous run
    SEGPIPE_BENCH_SERVER_URL=postgresql+psycopg://user@host:5432/postgres python benchmarks/export_bench.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from segpipe.config import Settings
from segpipe.db.engine import get_engine

DATABASE = "segpipe_bench_export"
FIELDS = "external_id,email,created_at,country,plan"
FORMATS: dict[str, dict[str, Any]] = {
    "csv": {"fmt": "csv", "hash": None, "fields": None},
    "csv+sha256": {"fmt": "csv", "hash": "sha256", "fields": None},
    "jsonl": {"fmt": "jsonl", "hash": None, "fields": FIELDS},
    "parquet": {"fmt": "parquet", "hash": None, "fields": FIELDS},
}
PROFILES_SQL = """
INSERT INTO segpipe.profiles (external_id, email, created_at, updated_at, attributes)
SELECT 'user-' || g, 'user' || g || '@example.com', timestamptz '2024-01-01' + g * interval '1 minute', now(),
       jsonb_build_object('country', (ARRAY['DE','FR','US','GB'])[1 + g % 4], 'plan', (ARRAY['free','pro'])[1 + g % 2],
                          'score', g % 1000)
FROM generate_series(1, :n) g
"""
SEGMENT_SQL = """
INSERT INTO segpipe.segments (key, name, rules, member_count, last_refreshed_at)
VALUES (:key, :name, '{"attribute": "plan", "op": "exists"}', :n, now())
"""
MEMBERS_SQL = """
INSERT INTO segpipe.memberships (segment_id, profile_id)
SELECT s.id, p.id FROM segpipe.segments s CROSS JOIN segpipe.profiles p WHERE s.key = :key AND p.id <= :limit
"""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def server_url() -> str:
    url = os.environ.get("SEGPIPE_BENCH_SERVER_URL") or os.environ.get("SEGPIPE_TEST_DATABASE_URL")
    if not url:
        sys.exit("set SEGPIPE_BENCH_SERVER_URL (or SEGPIPE_TEST_DATABASE_URL) to a Postgres server URL")
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def database_url(reuse: bool) -> str:
    admin = sa.create_engine(server_url(), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": DATABASE}).scalar()
        if exists and not reuse:
            conn.exec_driver_sql(f'DROP DATABASE "{DATABASE}" WITH (FORCE)')
        if not exists or not reuse:
            conn.exec_driver_sql(f'CREATE DATABASE "{DATABASE}"')
    admin.dispose()
    return make_url(server_url()).set(database=DATABASE).render_as_string(hide_password=False)


def generate(engine: Engine, members: int) -> None:
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE segpipe.profiles, segpipe.segments CASCADE")
        conn.execute(sa.text(PROFILES_SQL), {"n": members})
    log(f"generated {members:,} profiles in {time.perf_counter() - started:.1f} s")


def ensure_segments(engine: Engine, sizes: dict[str, int]) -> None:
    """One segment per size (its first N profiles), created when missing; then fresh statistics."""
    with engine.begin() as conn:
        present = set(conn.execute(sa.text("SELECT key FROM segpipe.segments")).scalars())
        for key, size in sizes.items():
            if key not in present:
                conn.execute(sa.text(SEGMENT_SQL), {"key": key, "name": key.title(), "n": size})
                conn.execute(sa.text(MEMBERS_SQL), {"key": key, "limit": size})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE segpipe.profiles")
        conn.exec_driver_sql("VACUUM ANALYZE segpipe.memberships")


def run_export(url: str, key: str, label: str, folder: Path) -> dict[str, Any]:
    """One export in a child process (as `segment members KEY --no-refresh --output FILE` runs it): the export's
    own time, measured in the child, and the child's peak RSS (from wait4)."""
    suffix = "csv" if label.startswith("csv") else label
    output = folder / f"{key}-{label.replace('+', '-')}.{suffix}"
    report, errors = folder / "child.json", folder / "stderr.txt"
    command = [sys.executable, __file__, "--child", key, label, str(output), str(report)]
    with errors.open("wb") as sink:
        process = subprocess.Popen(command, env={**os.environ, "SEGPIPE_DATABASE_URL": url}, stderr=sink)
        _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"export {label} failed: {errors.read_text()}")
    child = json.loads(report.read_text())
    size = output.stat().st_size
    output.unlink()
    return {"format": label, **child, "bytes": size, "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def child(key: str, label: str, output: str, report: str) -> None:
    """The child side: segpipe's CLI export code (cli.members.build_request + export), timed."""
    from segpipe.cli import members

    request = members.build_request(key, {"limit": None, "output": Path(output), **FORMATS[label]}, as_json=False)
    started = time.perf_counter()
    summary = members.export(request)
    seconds = time.perf_counter() - started
    Path(report).write_text(json.dumps({"seconds": round(seconds, 2), "rows": summary["rows"]}))


def main() -> None:
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        child(*sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--reuse", action="store_true", help="keep the database and data of a previous run")
    args = parser.parse_args()
    url = database_url(args.reuse)
    engine = get_engine(Settings(database_url=url))
    with engine.connect() as conn:
        present = conn.execute(sa.text("SELECT count(*) FROM segpipe.profiles")).scalar_one()
    if present != args.members:
        generate(engine, args.members)
    sizes = {"sample": min(1000, args.members), "half": args.members // 2, "everyone": args.members}
    ensure_segments(engine, sizes)
    results = []
    with tempfile.TemporaryDirectory(prefix="segpipe-export-bench-") as tmp:
        for label in FORMATS:
            small, half, large = (run_export(url, key, label, Path(tmp)) for key in sizes)
            large["rows_per_second"] = round(args.members / max(large["seconds"], 0.01))
            large["peak_rss_mb_by_members"] = {
                f"{sizes[k]:,}": run["peak_rss_mb"] for k, run in zip(sizes, (small, half, large), strict=True)
            }
            log(json.dumps(large))
            results.append(large)
    print(json.dumps({"members": args.members, "exports": results}, indent=2))


if __name__ == "__main__":
    main()
