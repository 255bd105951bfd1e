"""Reliability benchmark: the full run of tests/reliability (fuzzing, kill loops, races, secrets) and its figures.

The default test run holds a reduced form (about 1,000 fuzz cases, 5 crashes per flow, 1 run per race). This script
runs the same tests with the full budgets, collects the figures each test reports, and prints them as the tables of
RELIABILITY.md:

- SEGPIPE_FUZZ_EXAMPLES: hypothesis examples per fuzz test (default here 2,000: 2,000 rule documents + 4 x 2,000 load
  files = 10,000 cases);
- SEGPIPE_KILLS_PER_FLOW: crashes per flow, kill -9 and backend termination alternately (default here 40: 20 each);
- SEGPIPE_RACES: runs of each concurrency case (default here 5).

    python benchmarks/reliability.py                          # the full run (about an hour on 2 cores)
    python benchmarks/reliability.py --fuzz 300 --kills 6     # a quicker run
    python benchmarks/reliability.py --only kill_loops        # one part (fuzz, kill_loops, concurrency, secrets)

It needs what the tests need: SEGPIPE_TEST_DATABASE_URL (or the embedded server) and a free port for Prefect.
Exit code: pytest's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PARTS = {
    "fuzz": ["tests/reliability/test_fuzz_rules.py", "tests/reliability/test_fuzz_loads.py"],
    "kill_loops": ["tests/reliability/test_kill_loops.py"],
    "concurrency": ["tests/reliability/test_concurrency.py"],
    "secrets": ["tests/reliability/test_secrets.py"],
}


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fuzz", type=int, default=2000, help="hypothesis examples per fuzz test")
    parser.add_argument("--kills", type=int, default=40, help="crashes per flow (half kill -9, half terminate)")
    parser.add_argument("--races", type=int, default=5, help="runs of each concurrency case")
    parser.add_argument("--only", choices=sorted(PARTS), action="append", help="run only these parts")
    parser.add_argument("--report", type=Path, help="keep the raw JSON-lines report here")
    return parser.parse_args()


def _run(args: argparse.Namespace, report: Path) -> tuple[int, float]:
    env = {
        **os.environ,
        "SEGPIPE_FUZZ_EXAMPLES": str(args.fuzz),
        "SEGPIPE_KILLS_PER_FLOW": str(args.kills),
        "SEGPIPE_RACES": str(args.races),
        "SEGPIPE_RELIABILITY_REPORT": str(report),
    }
    paths = [p for part in (args.only or sorted(PARTS)) for p in PARTS[part]]
    started = time.monotonic()
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-W",
        "ignore",
        "-m",
        "reliability",
        *paths,
    ]
    code = subprocess.run(command, cwd=ROOT, env=env, check=False).returncode
    return code, time.monotonic() - started


def _summary(lines: list[dict[str, Any]]) -> str:
    out = []
    fuzz = [r for r in lines if r["section"] == "fuzz"]
    if fuzz:
        out += ["| fuzz target | cases |", "|---|---:|"]
        out += [f"| {r['target']} | {r['cases']:,} |" for r in fuzz]
        out.append(f"| **total** | **{sum(r['cases'] for r in fuzz):,}** |")
    kills = [r for r in lines if r["section"] == "kills"]
    if kills:
        out += ["", "| flow | kill -9 (mid-run) | backends terminated (mid-run) |", "|---|---:|---:|"]
        for r in kills:
            c, m = r["crashes"], r["landed_mid_run"]
            out.append(f"| {r['flow']} | {c['sigkill']} ({m['sigkill']}) | {c['terminate']} ({m['terminate']}) |")
    races: dict[str, int] = defaultdict(int)
    for r in lines:
        if r["section"] == "races":
            races[r["case"]] += r["runs"]
    if races:
        out += ["", "| race | runs |", "|---|---:|"] + [f"| {case} | {runs} |" for case, runs in races.items()]
    return "\n".join(out)


def main() -> int:
    args = _arguments()
    with tempfile.TemporaryDirectory() as folder:
        report = args.report or Path(folder) / "reliability.jsonl"
        report.unlink(missing_ok=True)
        code, seconds = _run(args, report)
        lines = [json.loads(line) for line in report.read_text().splitlines()] if report.exists() else []
    print(_summary(lines))
    print(f"\npytest exit code {code}; {seconds / 60:.1f} min")
    return code


if __name__ == "__main__":
    sys.exit(main())
