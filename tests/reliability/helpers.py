"""Shared tools of the reliability suite: table checksums, example budgets, the run report, the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

FUZZ_ENV = "SEGPIPE_FUZZ_EXAMPLES"
KILLS_ENV = "SEGPIPE_KILLS_PER_FLOW"
REPORT_ENV = "SEGPIPE_RELIABILITY_REPORT"
SEGPIPE = Path(sys.executable).with_name("segpipe")

_TABLES = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'segpipe' AND c.relkind IN ('r', 'p') ORDER BY 1
"""


def budget(env: str, reduced: int) -> int:
    """The number of examples / kills: the env var's value in the full run, else the reduced default."""
    value = os.environ.get(env)
    return int(value) if value else reduced


def fuzz_examples(reduced: int) -> int:
    return budget(FUZZ_ENV, reduced)


def fuzz_settings(reduced: int) -> Any:
    """Hypothesis settings of a fuzz test: `reduced` examples by default (SEGPIPE_FUZZ_EXAMPLES overrides), no
    deadline, no example database, and the health checks that large generated files trip switched off."""
    from hypothesis import HealthCheck, settings

    checks = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]
    return settings(max_examples=fuzz_examples(reduced), deadline=None, suppress_health_check=checks, database=None)


def report(section: str, **figures: Any) -> None:
    """Append one line of figures to the run report (benchmarks/reliability.py sets the file)."""
    path = os.environ.get(REPORT_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps({"section": section, **figures}) + "\n")


def table_names(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(_TABLES)).scalars())


def checksums(engine: Engine, skip: tuple[str, ...] = ()) -> dict[str, tuple[int, str]]:
    """Row count and md5 of every segpipe table's rows (as text, ordered): equal before/after = nothing written."""
    names = [n for n in table_names(engine) if n not in skip]
    parts = [
        f"SELECT '{n}' AS t, count(*) AS n, md5(coalesce(string_agg(r::text, E'\\n' ORDER BY r::text), ''))"
        f' AS h FROM segpipe."{n}" r'
        for n in names  # names come from the catalog, never from input
    ]
    with engine.connect() as conn:
        return {row.t: (row.n, row.h) for row in conn.execute(sa.text(" UNION ALL ".join(parts)))}


def run_segpipe(
    *args: str, db_url: str, home: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """The real `segpipe` executable (direct orchestration unless env says otherwise)."""
    merged = {
        **os.environ,
        "SEGPIPE_DATABASE_URL": db_url,
        "SEGPIPE_HOME": str(home),
        "SEGPIPE_ORCHESTRATION": "direct",
        **(env or {}),
    }
    return subprocess.run(
        [str(SEGPIPE), *args], env=merged, capture_output=True, text=True, timeout=timeout, check=False
    )


def assert_clean_outcome(code: int, stderr: str, stdout: str = "") -> None:
    """Exit 0 or 2, never a traceback; a refusal is exactly one `error: ...` line on stderr."""
    assert code in (0, 2), f"exit {code}\nstdout: {stdout[-2000:]}\nstderr: {stderr[-4000:]}"
    assert "Traceback" not in stderr and "Traceback" not in stdout, stderr[-4000:]
    if code == 2:
        lines = stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), stderr[-4000:]


class StateWatch:
    """Checksums of the last known state, recomputed only after a command that may have written (exit 0)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.known: dict[str, tuple[int, str]] | None = None

    def before(self) -> dict[str, tuple[int, str]]:
        if self.known is None:
            self.known = checksums(self.engine)
        return self.known

    def check(self, code: int) -> None:
        """After a refusal (exit 2) nothing changed; after a success the state is unknown again."""
        if code == 0:
            self.known = None
            return
        before, self.known = self.before(), checksums(self.engine)
        changed = [t for t in before if before[t] != self.known.get(t)]
        assert not changed, f"a refused command wrote to {changed}"
