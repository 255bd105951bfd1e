"""Load benchmark: 1M profiles (and events) through the real `segpipe load` command.

Generates the input file with vectorized pandas string operations (in chunks, so the generator stays small),
creates a scratch database, runs `segpipe load KIND FILE --json` as a child process and reports wall time,
rows/s and the CLI process's peak RSS (resource.getrusage(RUSAGE_SELF).ru_maxrss, reported by the child).

    python benchmarks/load_profiles.py                      # profiles jsonl+csv, reload, events (1M each)
    python benchmarks/load_profiles.py --rows 100000 --case profiles-jsonl
    SEGPIPE_BENCH_SERVER_URL=postgresql+psycopg://user@host:5432/postgres python benchmarks/load_profiles.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

CHUNK = 100_000
COUNTRIES = ["DE", "FR", "US", "GB", "ES", "IT", "NL", "PL"]
PLANS = ["free", "pro", "team", "enterprise"]
EVENTS = ["login", "purchase", "view", "signup", "logout"]


def _profile_chunk(start: int, stop: int, rng: np.random.Generator) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    ids = pd.Series(np.arange(start, stop)).astype(str)
    n = stop - start
    country = pd.Series(np.array(COUNTRIES)[rng.integers(0, len(COUNTRIES), n)])
    plan = pd.Series(np.array(PLANS)[rng.integers(0, len(PLANS), n)])
    score = pd.Series(rng.integers(0, 1000, n)).astype(str)
    attrs = '{"country":"' + country + '","plan":"' + plan + '","score":' + score + ',"vip":false}'
    created = pd.Series(pd.Timestamp("2024-01-01T00:00:00Z") + pd.to_timedelta(rng.integers(0, 3e7, n), unit="s"))
    return pd.DataFrame(
        {
            "external_id": "user-" + ids,
            "email": "user" + ids + "@example.com",
            "created_at": created.dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "attributes": attrs,
        }
    )


def _event_chunk(start: int, stop: int, rng: np.random.Generator, profiles: int) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    n = stop - start
    who = pd.Series(rng.integers(0, profiles, n)).astype(str)
    amount = pd.Series(rng.integers(1, 500, n)).astype(str)
    when = pd.Series(pd.Timestamp("2025-01-01T00:00:00Z") + pd.to_timedelta(rng.integers(0, 3e7, n), unit="s"))
    return pd.DataFrame(
        {
            "external_id": "user-" + who,
            "event": np.array(EVENTS)[rng.integers(0, len(EVENTS), n)],
            "occurred_at": when.dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "properties": '{"amount":' + amount + ',"currency":"EUR"}',
            "event_id": "evt-" + pd.Series(np.arange(start, stop)).astype(str),
        }
    )


def _jsonl_lines(frame: pd.DataFrame, object_column: str) -> Iterator[str]:
    """JSON Lines text with `object_column` embedded as an object (it already holds JSON text)."""
    import pandas as pd

    line = pd.Series("{", index=frame.index)
    for i, name in enumerate(frame.columns):
        value = frame[name] if name == object_column else '"' + frame[name].astype(str) + '"'
        line = line + ("," if i else "") + f'"{name}":' + value
    yield from (line + "}\n")


def _chunks(kind: str, rows: int, profiles: int, seed: int) -> Iterator[pd.DataFrame]:
    import numpy as np

    rng = np.random.default_rng(seed)
    for start in range(0, rows, CHUNK):
        stop = min(rows, start + CHUNK)
        yield _profile_chunk(start, stop, rng) if kind == "profiles" else _event_chunk(start, stop, rng, profiles)


def generate(path: Path, kind: str, rows: int, fmt: str, profiles: int, seed: int = 7) -> None:
    """The input file, CHUNK rows at a time. Parquet is written as pandas and pyarrow do by default: one row
    group of up to 1Mi rows (the worst case for the reader's memory), JSON columns as text."""
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        tables = [pa.Table.from_pandas(frame, preserve_index=False) for frame in _chunks(kind, rows, profiles, seed)]
        pq.write_table(pa.concat_tables(tables), path)
        return
    object_column = "attributes" if kind == "profiles" else "properties"
    with path.open("w", encoding="utf-8") as out:
        for i, frame in enumerate(_chunks(kind, rows, profiles, seed)):
            if fmt == "csv":
                frame.to_csv(out, index=False, header=i == 0)
            else:
                out.writelines(_jsonl_lines(frame, object_column))


# The child runs the real CLI and reports its own peak RSS on exit (RUSAGE_SELF of the CLI process alone;
# RUSAGE_CHILDREN in the parent would also count the pages a fork shares with this pandas-laden parent).
_CHILD = """
import resource, sys
from segpipe.cli.main import app
try:
    app(sys.argv[1:], prog_name="segpipe")
finally:
    sys.stderr.write("peak_rss_kb=%d\\n" % resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def run_load(url: str, kind: str, path: Path) -> dict:
    """Run `segpipe load KIND PATH --json` in a child process: its JSON output (`seconds` per phase) plus wall
    time (start-up and migration check included), rows/s and peak RSS."""
    env = {**os.environ, "SEGPIPE_DATABASE_URL": url}
    command = [sys.executable, "-c", _CHILD, "load", kind, str(path), "--json"]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"load failed ({done.returncode}): {done.stderr.strip()}")
    result = json.loads(done.stdout)
    result["wall_s"] = round(seconds, 2)
    result["rows_per_s"] = round(result["rows"] / seconds)
    peak = [line for line in done.stderr.splitlines() if line.startswith("peak_rss_kb=")][-1]
    result["peak_rss_mb"] = round(int(peak.split("=")[1]) / 1024)
    return result


# case -> (kind, format, seed). The reloads run after profiles-jsonl with other seeds: every row an update.
CASES = {
    "profiles-jsonl": ("profiles", "jsonl", 7),
    "profiles-csv-reload": ("profiles", "csv", 8),
    "profiles-parquet-reload": ("profiles", "parquet", 10),
    "events-jsonl": ("events", "jsonl", 9),
    "events-jsonl-again": ("events", "jsonl", 9),  # the same file again: every event_id is a duplicate
}


def _generate_in_child(path: Path, kind: str, rows: int, fmt: str, seed: int) -> None:
    """pandas stays out of this process: on Linux a child's ru_maxrss starts at its parent's size (exec keeps
    the high-water mark of the forked image), so a small parent keeps the CLI's figure honest."""
    args = ["--generate", str(path), "--kind", kind, "--rows", str(rows), "--format", fmt, "--seed", str(seed)]
    subprocess.run([sys.executable, __file__, *args], check=True)


def _database(server: str) -> tuple[str, sa.Engine]:
    name = f"segpipe_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    return sa.engine.make_url(server).set(database=name).render_as_string(hide_password=False), admin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--case", choices=sorted(CASES), action="append")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--kind", default="profiles", help=argparse.SUPPRESS)
    parser.add_argument("--format", default="jsonl", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=7, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        generate(args.generate, args.kind, args.rows, args.format, profiles=args.rows, seed=args.seed)
        return
    server = os.environ.get("SEGPIPE_BENCH_SERVER_URL", "postgresql+psycopg://root@127.0.0.1:5432/test")
    url, admin = _database(server)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for case in args.case or list(CASES):
                kind, fmt, seed = CASES[case]
                path = Path(tmp) / f"{kind}.{fmt}"
                t0 = time.perf_counter()
                _generate_in_child(path, kind, args.rows, fmt, seed)
                made = time.perf_counter() - t0
                size = path.stat().st_size / 1e6
                result = run_load(url, kind, path)
                keep = ("rows", "inserted", "updated", "skipped_duplicates", "wall_s", "rows_per_s", "peak_rss_mb")
                summary = {"case": case, "file_mb": round(size), "generate_s": round(made, 1)}
                summary |= {k: result[k] for k in keep} | {"phases_s": result["seconds"]}
                print(json.dumps(summary), flush=True)
                path.unlink()
    finally:
        if not args.keep:
            name = sa.engine.make_url(url).database
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
