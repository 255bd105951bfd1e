"""Step 7: prove the deletion. No row of any manifest profile remains anywhere; activity counts per campaign
and kind are unchanged since the gate; the segment still exists.

Rows linked to a manifest profile after its batch committed can only come from a writer that resolved the
profile before it was deleted (a load in flight). Verification removes such stragglers once (audited as
`sweep`, inside the manifest only: profile ids are never reused) and checks again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segpipe.db import schema as t
from segpipe.db.engine import set_local
from segpipe.deletion import audit, jobs
from segpipe.deletion.activity import compare_to_baseline
from segpipe.deletion.execute import delete_in_postgres, pending_batches
from segpipe.deletion.gates import require_state
from segpipe.deletion.rows import ANONYMIZED_TABLES, DELETED_TABLES, LINKED_TABLES, remaining_in_batches
from segpipe.errors import InvalidInput

T = TypeVar("T")
R = TypeVar("R")

PARALLEL = 2
"""Connections verification uses at once."""
VERIFY_PROFILES = 1_000_000
"""Manifest profiles checked by one verification statement (their ids are one array in Postgres)."""
# Bitmap probes (see rows.remaining_in_batches): a plain index scan would visit every deleted row's page at
# random, several times slower; exact bitmaps need work_mem; JIT would only add compile time.
_PROBE_SETTINGS = {"jit": "off", "enable_indexscan": "off", "enable_indexonlyscan": "off", "work_mem": "64MB"}
TABLE_ORDER = (t.profiles.name, *(name for name in DELETED_TABLES if name != t.profiles.name), *ANONYMIZED_TABLES)
_VERIFIABLE = (jobs.GATE_PASSED, jobs.DELETING, jobs.VERIFYING, jobs.FAILED)


@dataclass(frozen=True)
class Verification:
    ok: bool
    remaining: dict[str, int] = field(default_factory=dict)
    """Rows of manifest profiles left after the sweep, per table (empty when none)."""
    swept: dict[str, int] = field(default_factory=dict)
    """Straggler rows removed by the sweep, per table."""
    activity_changed: list[dict[str, Any]] = field(default_factory=list)
    segment_exists: bool = True


def verify(engine: Engine, job_id: uuid.UUID) -> Verification:
    """Verify a job whose batches are all done; the job ends `completed` (ok) or `failed`."""
    with engine.begin() as conn:
        job = jobs.require_job(conn, job_id)
        require_state(job, _VERIFIABLE, "verify")
        if pending_batches(conn, job_id):
            raise InvalidInput(f"job {job_id} still has batches to delete; resume it first", where="job")
    remaining = _remaining(engine, job_id)
    swept: dict[str, int] = {}
    if remaining:
        swept = _sweep(engine, job_id, [b for first, last in remaining for b in range(first, last + 1)])
        remaining = _remaining(engine, job_id)
    totals = _total(remaining.values())
    with engine.begin() as conn:
        changed = compare_to_baseline(conn, job.activity_baseline or {})
        exists = conn.execute(sa.select(t.segments.c.id).where(t.segments.c.id == job.segment_id)).first() is not None
        result = Verification(not totals and not changed and exists, totals, swept, changed, exists)
        _record(conn, job, result)
    if result.ok:
        _analyze(engine)
    return result


def _remaining(engine: Engine, job_id: uuid.UUID) -> dict[tuple[int, int], dict[str, int]]:
    """Rows still linked to manifest profiles, per table, for each run of consecutive batches holding up to
    VERIFY_PROFILES profiles that has some (keyed by its first and last batch)."""
    probes = [(run, table) for run in _batch_runs(engine, job_id) for table in LINKED_TABLES]
    counts = _in_parallel(lambda probe: _probe(engine, job_id, *probe), probes)
    found: dict[tuple[int, int], dict[str, int]] = {}
    for (run, table), n in zip(probes, counts, strict=True):
        if n:
            found.setdefault(run, {})[table.name] = n
    return found


def _probe(engine: Engine, job_id: uuid.UUID, run: tuple[int, int], table: sa.Table) -> int:
    with engine.begin() as conn:
        set_local(conn, _PROBE_SETTINGS)
        return remaining_in_batches(conn, table, job_id, *run)


def _in_parallel(call: Callable[[T], R], items: list[T]) -> list[R]:
    """`call` over items on PARALLEL connections at once (results in order): the probes and ANALYZEs wait on
    Postgres, which works on them side by side (the events probe alone is most of the verification)."""
    with ThreadPoolExecutor(PARALLEL, thread_name_prefix="segpipe-verify") as pool:
        return list(pool.map(call, items))


def _batch_runs(engine: Engine, job_id: uuid.UUID) -> list[tuple[int, int]]:
    """The job's batches as runs (first, last) of consecutive batches of at most VERIFY_PROFILES profiles
    together (a larger batch is a run of its own)."""
    m = t.deletion_manifest
    query = sa.select(m.c.batch_no, sa.func.count()).where(m.c.job_id == job_id).group_by(m.c.batch_no)
    with engine.begin() as conn:
        sizes = sorted(conn.execute(query).tuples().all())
    runs: list[tuple[int, int]] = []
    size = 0
    for batch_no, n in sizes:
        if runs and size + n <= VERIFY_PROFILES:
            runs[-1], size = (runs[-1][0], batch_no), size + n
        else:
            runs.append((batch_no, batch_no))
            size = n
    return runs


def _sweep(engine: Engine, job_id: uuid.UUID, batches: list[int]) -> dict[str, int]:
    """Remove the stragglers of these batches, each batch with some in one audited transaction."""
    swept = []
    for batch_no in batches:
        with engine.begin() as conn:
            detail = delete_in_postgres(conn, job_id, batch_no, sweep=True)
        if detail is not None:
            swept.append({name: int(n) for name, n in detail["tables"].items()})
    return _total(swept)


def _total(counts: Iterable[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for item in counts:
        for table, n in item.items():
            total[table] = total.get(table, 0) + n
    return {table: n for table, n in total.items() if n}


def _record(conn: Any, job: jobs.JobRow, result: Verification) -> None:
    detail = {
        "ok": result.ok,
        "remaining": result.remaining,
        "swept": result.swept,
        "activity_unchanged": not result.activity_changed,
        "activity_changed": result.activity_changed,
        "segment_exists": result.segment_exists,
    }
    audit.append(conn, job.id, "verified", detail)
    if result.ok:
        if jobs.move(conn, job.id, _VERIFIABLE, jobs.COMPLETED, error=None):
            audit.append(conn, job.id, "completed", {"deleted_profiles": job_totals(conn, job.id).get("profiles", 0)})
    else:
        message = "verification failed: " + ", ".join(_problems(result))
        if jobs.move(conn, job.id, _VERIFIABLE, jobs.FAILED, error=message):
            audit.append(conn, job.id, "failed", {"reason": message})


def _problems(result: Verification) -> list[str]:
    problems = [f"{n} {table} row(s) of deleted profiles remain" for table, n in result.remaining.items()]
    problems += [f"activity {c['campaign']}/{c['kind']} {c['before']} -> {c['after']}" for c in result.activity_changed]
    if not result.segment_exists:
        problems.append("the segment no longer exists")
    return problems


def job_totals(conn: Any, job_id: uuid.UUID) -> dict[str, int]:
    """Rows deleted (anonymized, for activity) per table by the job's batches and sweeps, from its audit."""
    a = t.deletion_audit
    each = sa.func.jsonb_each_text(a.c.detail["tables"]).table_valued("key", "value").render_derived()
    query = (
        sa.select(each.c.key, sa.func.sum(sa.cast(each.c.value, sa.BigInteger)))
        .select_from(a)
        .join(each, sa.true())
        .where(a.c.job_id == job_id, a.c.step.in_(("batch", "sweep")))
        .group_by(each.c.key)
    )
    totals = {key: int(total) for key, total in conn.execute(query)}
    return {table: totals[table] for table in (*TABLE_ORDER, *sorted(totals)) if table in totals}


def _analyze(engine: Engine) -> None:
    _in_parallel(lambda table: _analyze_table(engine, table), list(LINKED_TABLES))


def _analyze_table(engine: Engine, table: sa.Table) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(f"ANALYZE {table.fullname}"))
