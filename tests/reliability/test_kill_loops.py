# ruff: noqa: E501  (SQL and table-driven rows read best on one line)
"""Kill loops: the real `segpipe` crashed at a random moment (kill -9 of its group, or its backends terminated).

After each crash: a load left the data exactly before or after; every segment's stored membership is unchanged or
equals a fresh recompute at its recorded as_of; a snapshot is ready and complete or not ready; a deletion job resumes
and deletes exactly its manifest with a complete audit; the next run of the same command succeeds unaided.
"""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from tests.reliability.helpers import KILLS_ENV, budget, report, run_segpipe
from tests.reliability.killing import FAULTS, crash
from tests.reliability.world import (
    ROWS,
    content,
    profile_rows,
    recompute,
    segment_keys,
    stored_members,
    write_jsonl,
)

pytestmark = pytest.mark.reliability
KILLS = budget(KILLS_ENV, 5)
LOAD_KINDS = ("profiles", "events", "subscriptions", "activity")
ESTIMATE = 4.0  # seconds a command takes, until its first rerun is timed


def _faults(n: int) -> list[str]:
    """n crashes per flow: kill -9 and backend termination alternately."""
    return [FAULTS[i % 2] for i in range(n)]


def _timed(world, *args: str) -> float:
    """Run the command to completion (it must succeed) and return how long it took."""
    started = time.monotonic()
    done = run_segpipe(*args, db_url=world["db_url"], home=world["home"])
    assert done.returncode == 0, done.stderr[-3000:]
    return time.monotonic() - started


def _crash(world, args: list[str], fault: str, typical: float):
    """Crash `segpipe ARGS` at a random moment within about its typical duration."""
    delay = world["rng"].uniform(0.3, 1.05) * typical
    done = crash(args, db_url=world["db_url"], home=world["home"], engine=world["engine"], fault=fault, delay=delay)
    assert "Traceback" not in done.stderr, done.stderr  # a terminated backend ends in one error line, or a retry
    return done


def _tally(flow: str, crashes: list) -> None:
    by_fault = {f: sum(1 for c in crashes if c.fault == f) for f in FAULTS}
    landed = {f: sum(1 for c in crashes if c.fault == f and c.hit) for f in FAULTS}
    report("kills", flow=flow, crashes=by_fault, landed_mid_run=landed)
    assert len(crashes) >= KILLS


@pytest.mark.parametrize("kind", LOAD_KINDS)
def test_load_is_exactly_before_or_after(world, kind):
    engine, home = world["engine"], world["home"]
    typical = ESTIMATE  # then the duration of each rerun
    crashes = []
    for n, fault in enumerate(_faults(KILLS), start=101):
        path = write_jsonl(home / f"{kind}-{n}.jsonl", ROWS[kind](n))
        before = content(engine)
        crashes.append(_crash(world, ["load", kind, str(path)], fault, typical))
        middle = content(engine)
        typical = _timed(world, "load", kind, str(path))  # the next run succeeds without repair
        after = content(engine)
        assert middle in (before, after), f"{kind} load crashed ({crashes[-1]}) left a partial write"
    _tally(f"load {kind}", crashes)


def _memberships_hold(engine, before: dict[str, set[int]]) -> None:
    with engine.connect() as conn:
        for key in segment_keys(engine):
            stored = stored_members(conn, key)
            assert stored == before.get(key) or stored == recompute(conn, key), f"segment {key}: stale membership"


def _members(engine) -> dict[str, set[int]]:
    with engine.connect() as conn:
        return {key: stored_members(conn, key) for key in segment_keys(engine)}


def _change_data(world, n: int) -> None:
    result = world["invoke"]("load", "profiles", str(write_jsonl(world["home"] / f"change-{n}.jsonl", profile_rows(n))))
    assert result.exit_code == 0, result.output


def test_refresh_all_publishes_whole_segments(world):
    engine = world["engine"]
    typical, crashes = ESTIMATE, []
    for n, fault in enumerate(_faults(KILLS), start=200):
        _change_data(world, n)
        before = _members(engine)
        crashes.append(_crash(world, ["refresh", "--all"], fault, typical))
        _memberships_hold(engine, before)
        typical = _timed(world, "refresh", "--all")
        _memberships_hold(engine, {})
    _tally("refresh-all", crashes)


def _snapshots_whole(engine) -> None:
    query = """
    SELECT s.id, s.status, s.member_count, (SELECT count(*) FROM segpipe.snapshot_members m WHERE m.snapshot_id = s.id)
    FROM segpipe.audience_snapshots s
    """
    with engine.connect() as conn:
        for snapshot_id, status, count, stored in conn.execute(sa.text(query)):
            assert status != "ready" or stored == count, f"snapshot {snapshot_id} ready but incomplete"


def _last_snapshot_ready(engine) -> None:
    with engine.connect() as conn:
        status = conn.execute(sa.text("SELECT status FROM segpipe.audience_snapshots ORDER BY id DESC LIMIT 1"))
        assert status.scalar_one() == "ready"


def test_presend_snapshot_is_ready_and_complete_or_not_ready(world):
    engine = world["engine"]
    typical, crashes = 2 * ESTIMATE, []
    for n, fault in enumerate(_faults(KILLS), start=300):
        _change_data(world, n)
        before = _members(engine)
        crashes.append(_crash(world, ["presend", "bf"], fault, typical))
        _snapshots_whole(engine)
        _memberships_hold(engine, before)
        typical = _timed(world, "presend", "bf")
        _snapshots_whole(engine)
        _last_snapshot_ready(engine)
    _tally("presend", crashes)


def _statuses(engine) -> dict[str, str]:
    with engine.connect() as conn:
        return {key: status for key, status in conn.execute(sa.text("SELECT key, status FROM segpipe.segments"))}


def test_classify_is_before_or_after(world):
    engine, invoke = world["engine"], world["invoke"]
    typical, crashes = ESTIMATE, []
    campaign = world["home"] / "campaign.yaml"
    for n, fault in enumerate(_faults(KILLS), start=400):
        status = ("scheduled", "draft")[n % 2]  # the live use of bf's segments comes and goes
        campaign.write_text(f"kind: Campaign\nkey: bf\nname: Black Friday\nchannel: email\nstatus: {status}\n"
                            "include: [de, big-spenders]\nexclude: [pro]\n")  # fmt: skip
        assert invoke("apply", str(campaign)).exit_code == 0
        before = _statuses(engine)
        as_of = "2099-01-01T00:00:00Z"
        crashes.append(_crash(world, ["classify", "--as-of", as_of], fault, typical))
        middle = _statuses(engine)
        typical = _timed(world, "classify", "--as-of", as_of)
        after = _statuses(engine)
        assert middle in (before, after), f"classify crash left a mixed state: {middle}"
    _tally("classify", crashes)


DOOMED = 100


def _doomed_segment(world, n: int) -> tuple[str, str]:
    """DOOMED new profiles and a segment of exactly them, refreshed: the target of one deletion."""
    invoke, home = world["invoke"], world["home"]
    rows = [
        {"external_id": f"d{n}-{i}", "email": f"d{n}-{i}@example.com", "attributes": {"doom": n}} for i in range(DOOMED)
    ]
    assert invoke("load", "profiles", str(write_jsonl(home / f"doomed-{n}.jsonl", rows))).exit_code == 0
    key, name = f"doomed-{n}", f"Doomed {n}"
    doc = home / f"doomed-{n}.yaml"
    doc.write_text(f"kind: Segment\nkey: {key}\nname: {name}\nrules: {{attribute: doom, op: eq, value: {n}}}\n")
    assert invoke("apply", str(doc)).exit_code == 0
    assert invoke("refresh", key).exit_code == 0
    return key, name


def _delete_args(key: str, name: str, *extra: str) -> list[str]:
    return ["delete-profiles", key, "--confirm", name, "--expect", str(DOOMED), "--actor", "alice", "--batch-size", "10", *extra]  # fmt: skip


def _job(engine, key: str):
    with engine.connect() as conn:
        query = "SELECT id, state FROM segpipe.deletion_jobs WHERE segment_key = :k AND NOT dry_run ORDER BY created_at"
        return conn.execute(sa.text(query), {"k": key}).all()


def _deleted_exactly_the_manifest(engine, key: str, n: int) -> None:
    jobs = _job(engine, key)
    completed = [job for job in jobs if job.state == "completed"]
    assert len(completed) == 1 and all(job.state in ("completed", "refused") for job in jobs), jobs
    job_id = completed[0].id
    with engine.connect() as conn:
        manifest = conn.execute(
            sa.text(
                "SELECT count(*), count(*) FILTER (WHERE deleted) FROM segpipe.deletion_manifest WHERE job_id = :j"
            ),
            {"j": job_id},
        ).one()
        left = conn.execute(
            sa.text("SELECT count(*) FROM segpipe.profiles WHERE attributes->>'doom' = :n"), {"n": str(n)}
        ).scalar_one()
        deleted = conn.execute(
            sa.text("SELECT deleted_profiles FROM segpipe.deletion_jobs WHERE id = :j"), {"j": job_id}
        ).scalar_one()
        steps = list(
            conn.execute(
                sa.text("SELECT step FROM segpipe.deletion_audit WHERE job_id = :j ORDER BY id"), {"j": job_id}
            ).scalars()
        )
    assert manifest == (DOOMED, DOOMED) and left == 0 and deleted == DOOMED, (manifest, left, deleted)
    assert steps[0] == "created" and steps[-1] == "completed" and "manifest_frozen" in steps and "verified" in steps, (
        steps
    )
    assert sum(1 for s in steps if s == "batch") >= DOOMED // 10, steps


def test_deletion_resumes_and_deletes_exactly_its_manifest(world):
    engine = world["engine"]
    key, name = _doomed_segment(world, 500)
    typical = _timed(world, *_delete_args(key, name))
    crashes = []
    for n, fault in enumerate(_faults(KILLS), start=501):
        key, name = _doomed_segment(world, n)
        crashes.append(_crash(world, _delete_args(key, name), fault, typical))
        jobs = _job(engine, key)
        if jobs and jobs[0].state != "completed":
            _timed(world, *_delete_args(key, name, "--job", str(jobs[0].id)))
        elif not jobs:
            _timed(world, *_delete_args(key, name))
        _deleted_exactly_the_manifest(engine, key, n)
    _tally("delete-profiles", crashes)
