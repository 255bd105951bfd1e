"""Events load against raw COPY (issue 12, point 2): one run, the same generated events.

In a scratch database: load the profiles with `segpipe load profiles`, then the same events
  1. with `segpipe load events FILE --json` (the real CLI in a child process: start-up, migration check, read,
     validate, COPY into staging, locking the profiles, event_id dedupe, insert, commit, ANALYZE),
  2. with a raw COPY (text format, profile ids already resolved) into a table created
     `LIKE segpipe.events INCLUDING ALL` (the same identity, defaults and indexes), and
  3. with the same raw COPY into a table with no index at all,
then the same events file once more through segpipe (every event_id known: the idempotent reload). Each
measured step starts after a CHECKPOINT. Prints one JSON line per step and the ratios.

    python benchmarks/load_bench.py                          # 2M events over 200k profiles (a few minutes)
    python benchmarks/load_bench.py --events 200000 --profiles 20000
    SEGPIPE_BENCH_SERVER_URL=postgresql+psycopg://user@host:5432/postgres python benchmarks/load_bench.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))
from load_profiles import _chunks, _database, _generate_in_child, generate, run_load

COLUMNS = "profile_id, name, occurred_at, properties, event_id"


def _tsv(path: Path, events: int, profiles: int, ids: dict[str, int], seed: int) -> None:
    """The events of the JSON Lines file (same generator, same seed), as COPY text with resolved profile ids."""
    with path.open("w", encoding="utf-8") as out:
        for frame in _chunks("events", events, profiles, seed):
            profile_id = frame["external_id"].map(ids).astype(str)
            rows = profile_id + "\t" + frame["event"] + "\t" + frame["occurred_at"] + "\t" + frame["properties"]
            out.writelines(rows + "\t" + frame["event_id"] + "\n")


def _checkpoint(engine: sa.Engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("CHECKPOINT")


def raw_copy(engine: sa.Engine, table: str, path: Path, *, indexed: bool) -> dict:
    """COPY the TSV file into a fresh copy of the events table (with or without its indexes); wall time to
    commit, as a client streaming the file would see it."""
    like = "INCLUDING ALL" if indexed else "INCLUDING DEFAULTS INCLUDING IDENTITY"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
        conn.exec_driver_sql(f"CREATE TABLE {table} (LIKE segpipe.events {like})")
    _checkpoint(engine)
    started = time.perf_counter()
    with engine.begin() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        statement = f"COPY {table} ({COLUMNS}) FROM STDIN"
        with raw.cursor() as cursor, cursor.copy(statement) as copy, path.open("rb") as source:
            while block := source.read(1 << 20):
                copy.write(block)
    seconds = time.perf_counter() - started
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one()
    return {"rows": rows, "wall_s": round(seconds, 2), "rows_per_s": round(rows / seconds)}


def lock_cost(engine: sa.Engine) -> float:
    """What locking every profile FOR KEY SHARE (as a load resolving them does) costs on its own."""
    with engine.connect() as conn:
        started = time.perf_counter()
        conn.exec_driver_sql(
            "SELECT count(*) FROM (SELECT id FROM segpipe.profiles ORDER BY id FOR KEY SHARE) locked"
        ).scalar_one()
        seconds = time.perf_counter() - started
        conn.rollback()
    return round(seconds, 2)


def _segpipe(url: str, engine: sa.Engine, kind: str, path: Path) -> dict:
    _checkpoint(engine)
    result = run_load(url, kind, path)
    keep = ("rows", "inserted", "already_known", "wall_s", "rows_per_s", "peak_rss_mb", "seconds")
    return {k: result[k] for k in keep}


def _report(step: str, figures: dict) -> dict:
    print(json.dumps({"step": step, **figures}), flush=True)
    return figures


def run(url: str, engine: sa.Engine, tmp: Path, events: int, profiles: int) -> None:
    people, stream, tsv = tmp / "profiles.jsonl", tmp / "events.jsonl", tmp / "events.tsv"
    _generate_in_child(people, "profiles", profiles, "jsonl", 7)
    _report("segpipe load profiles", _segpipe(url, engine, "profiles", people))
    _generate_events_in_child(url, tmp, events, profiles)
    indexed = _report("raw COPY, indexed like events", raw_copy(engine, "bench_events_indexed", tsv, indexed=True))
    loaded = _report("segpipe load events", _segpipe(url, engine, "events", stream))
    plain = _report("raw COPY, no index", raw_copy(engine, "bench_events_plain", tsv, indexed=False))
    _report("segpipe load events, same file again", _segpipe(url, engine, "events", stream))
    _report("lock all profiles FOR KEY SHARE", {"profiles": profiles, "seconds": lock_cost(engine)})
    ratios = {
        "segpipe / raw indexed COPY": round(loaded["rows_per_s"] / indexed["rows_per_s"], 2),
        "segpipe / raw unindexed COPY": round(loaded["rows_per_s"] / plain["rows_per_s"], 2),
        "segpipe merge-only rows/s": round(events / loaded["seconds"]["merge"]),
    }
    print(json.dumps({"ratios": ratios}), flush=True)


def _generate_events_in_child(url: str, tmp: Path, events: int, profiles: int) -> None:
    """events.jsonl and events.tsv (the same rows, profile ids resolved), written by a child process so that
    pandas stays out of this one (see load_profiles._generate_in_child)."""
    import subprocess

    args = ["--child", str(tmp), "--url", url, "--events", str(events), "--profiles", str(profiles)]
    subprocess.run([sys.executable, __file__, *args], check=True)


def _child(url: str, tmp: Path, events: int, profiles: int) -> None:
    generate(tmp / "events.jsonl", "events", events, "jsonl", profiles=profiles, seed=9)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        ids = dict(conn.exec_driver_sql("SELECT external_id, id FROM segpipe.profiles").tuples().all())
    engine.dispose()
    _tsv(tmp / "events.tsv", events, profiles, ids, seed=9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--profiles", type=int, default=200_000)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.url, args.child, args.events, args.profiles)
        return
    server = os.environ.get("SEGPIPE_BENCH_SERVER_URL", "postgresql+psycopg://root@127.0.0.1:5432/test")
    url, admin = _database(server)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            run(url, engine, Path(tmp), args.events, args.profiles)
    finally:
        engine.dispose()
        if not args.keep:
            name = sa.engine.make_url(url).database
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


if __name__ == "__main__":
    main()
