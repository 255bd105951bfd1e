"""Contract §7 "Deletion jobs" (issue 11.7, 11.2-3), through the CLI, as real login roles where it matters:
`delete-profiles KEY --confirm NAME --expect N --actor WHO [--dry-run] [--hold-days N]` (`--json`: job_id,
status, matched, deleted_profiles), `deletion list`, `deletion lookup EXTERNAL_ID`, `deletion cancel JOB`;
`profiles:view` + `profiles:edit` needed (exit 3 otherwise); a dry run never waits for approval."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from tests.acceptance.contract_driver import Driver, attr, seg

FIELDS = {"job_id", "status", "matched", "deleted_profiles"}


@pytest.fixture(scope="module")
def deleter(db_url: str, engine: Engine) -> Iterator[str]:
    """A login role in `segpipe_operator` (not an admin): deletion goes through Postgres's checked functions."""
    name = f"acc_deleter_{uuid.uuid4().hex[:8]}"
    root = sa.create_engine(db_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with root.connect() as conn:
        conn.exec_driver_sql(f'CREATE ROLE "{name}" LOGIN')
        conn.exec_driver_sql(f'GRANT segpipe_operator TO "{name}"')
    yield name
    engine.dispose()
    with root.connect() as conn:
        conn.exec_driver_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (name,))
        conn.exec_driver_sql(f'DROP OWNED BY "{name}"')
        conn.exec_driver_sql(f'DROP ROLE "{name}"')
    root.dispose()


@pytest.fixture()
def sp(cli, tmp_path) -> Driver:
    return Driver(cli, tmp_path)


def doomed(sp: Driver, n: int = 3) -> tuple[str, str, list[str]]:
    """`n` profiles in a segment of their own (with one bystander outside it); (key, name, external ids)."""
    ids = [sp.k(f"d{i}") for i in range(n)]
    rows = [{"external_id": i, "attributes": {"doom": True}} for i in ids]
    rows.append({"external_id": sp.k("bystander"), "attributes": {"doom": False}})
    sp.ok("load", "profiles", sp.file("p.jsonl", "".join(json.dumps(r) + "\n" for r in rows)))
    key, name = sp.k("doomed"), sp.k("Doomed (all of them)")
    scope = {"attribute": "external_id", "op": "starts_with", "value": sp.tag}
    sp.apply(seg(key, name=name, rules={"all": [scope, attr("doom", True)]}))
    assert sp.ok("refresh", key)[0]["member_count"] == n
    return key, name, ids


def members(sp: Driver, key: str) -> int:
    return sp.ok("refresh", key)[0]["member_count"]


def args(key: str, name: str, n: int, actor: str, *extra: Any) -> tuple[Any, ...]:
    return ("delete-profiles", key, "--confirm", name, "--expect", n, "--actor", actor, "--max-share", 1, *extra)


def env_for(db_url: str, role: str) -> dict[str, str]:
    return {"SEGPIPE_DATABASE_URL": make_url(db_url).set(username=role).render_as_string(False)}


def listed(sp: Driver, job_id: str) -> dict[str, Any]:
    return next(job for job in sp.ok("deletion", "list") if job["job_id"] == job_id)


def test_a_non_admin_without_both_permissions_is_refused(sp: Driver, db_url: str, deleter: str) -> None:
    key, name, ids = doomed(sp)
    env = env_for(db_url, deleter)
    line = sp.fails(3, *args(key, name, 3, deleter, "--dry-run"), env=env)
    assert "profiles:view" in line and "profiles:edit" in line, line
    sp.ok("grant", deleter, "profiles:view")
    line = sp.fails(3, *args(key, name, 3, deleter), env=env)
    assert "profiles:edit" in line, line
    assert members(sp, key) == 3
    assert all(sp.ok("deletion", "lookup", i)["deleted"] is False for i in ids)
    sp.ok("revoke", deleter, "profiles:view")


@pytest.mark.xfail(
    strict=True,
    reason="issue 11.2/Done-when: a granted non-admin may delete through SECURITY DEFINER functions; main lets only "
    "admins run delete-profiles (the job tables are not writable by non-admin roles; docs/security.md calls moving "
    "the job state changes behind SECURITY DEFINER functions 'the next step'): Postgres refuses deletion_jobs",
)
def test_a_non_admin_with_both_permissions_deletes_and_the_job_is_listed_and_looked_up(
    sp: Driver, db_url: str, deleter: str
) -> None:
    key, name, ids = doomed(sp)
    sp.ok("grant", deleter, "profiles:view", "profiles:edit")
    try:
        done = sp.ok(*args(key, name, 3, deleter), env=env_for(db_url, deleter))
    finally:
        sp.ok("revoke", deleter, "profiles:view", "profiles:edit")
    assert set(done) >= FIELDS
    assert (done["status"], done["matched"], done["deleted_profiles"]) == ("completed", 3, 3)
    assert members(sp, key) == 0
    job = listed(sp, done["job_id"])
    assert job["actor"] == deleter and job["deleted_profiles"] == 3
    for external_id in ids:
        found = sp.ok("deletion", "lookup", external_id)
        assert found["deleted"] is True and [j["job_id"] for j in found["jobs"]] == [done["job_id"]]
    assert sp.ok("deletion", "lookup", sp.k("bystander"))["deleted"] is False
    assert sp.ok("deletion", "lookup", "never-existed-" + sp.tag)["deleted"] is False


def test_a_dry_run_previews_and_never_waits(sp: Driver) -> None:
    key, name, _ = doomed(sp)
    sp.ok("grant", "root", "profiles:view", "profiles:edit")
    preview = sp.ok(*args(key, name, 3, "root", "--dry-run"))
    assert set(preview) >= FIELDS
    assert (preview["matched"], preview["deleted_profiles"]) == (3, 0)
    assert preview["status"] == "previewed"
    assert members(sp, key) == 3
    assert listed(sp, preview["job_id"])["dry_run"] is True
    assert "--hold-days" in sp.fails(2, *args(key, name, 3, "root", "--dry-run", "--hold-days", 2))


def test_a_held_job_waits_its_days_and_a_cancel_stops_it(sp: Driver) -> None:
    key, name, ids = doomed(sp)
    sp.ok("grant", "root", "profiles:view", "profiles:edit")
    held = sp.ok(*args(key, name, 3, "root", "--hold-days", 3))
    assert set(held) >= FIELDS
    assert (held["status"], held["matched"], held["deleted_profiles"]) == ("held", 3, 0)
    job = listed(sp, held["job_id"])
    due = datetime.fromisoformat(job["execute_after"])
    assert job["state"] == "held" and timedelta(days=2.9) < due - datetime.now(UTC) <= timedelta(days=3)
    sp.ok("deletion", "run-due")
    assert members(sp, key) == 3  # not due yet

    cancelled = sp.ok("deletion", "cancel", held["job_id"])
    assert cancelled["status" if "status" in cancelled else "state"] == "cancelled"
    assert listed(sp, held["job_id"])["state"] == "cancelled"
    assert sp.fails(3, "deletion", "cancel", held["job_id"])  # already ended
    sp.ok("deletion", "run-due")
    assert members(sp, key) == 3
    assert all(sp.ok("deletion", "lookup", i)["deleted"] is False for i in ids)
    shown = sp.run("deletion", "show", held["job_id"])
    assert shown.exit_code == 0 and "cancelled" in shown.stdout


def test_cancel_of_an_unknown_job_is_exit_2(sp: Driver) -> None:
    assert sp.fails(2, "deletion", "cancel", str(uuid.uuid4()))
    assert sp.fails(2, "deletion", "cancel", "not-a-job-id")


def test_a_held_job_due_now_is_carried_out_by_run_due(sp: Driver) -> None:
    key, name, _ = doomed(sp)
    sp.ok("grant", "root", "profiles:view", "profiles:edit")
    held = sp.ok(*args(key, name, 3, "root", "--hold-days", 0))
    assert held["status"] in ("held", "completed")
    sp.ok("deletion", "run-due")
    assert listed(sp, held["job_id"])["state"] == "completed"
    assert members(sp, key) == 0
