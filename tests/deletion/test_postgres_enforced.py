"""Postgres itself refuses to delete a batch unless the job, its actor and the session qualify
(`segpipe.delete_profile_batch`, a SECURITY DEFINER function; sql/0013)."""

from __future__ import annotations

import uuid

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from segpipe.deletion import DeletionRequest, delete_batch, freeze_manifest, plan_deletion, run_gate
from segpipe.errors import GateRefused
from tests.deletion.helpers import external_ids

GERMANS = external_ids(6)
CALL = "SELECT segpipe.delete_profile_batch(%s, 1)"


def _gated(engine, *, dry_run: bool = False):
    plan = plan_deletion(engine, DeletionRequest("de", "alice", 6, "German customers", dry_run, batch_size=3))
    freeze_manifest(engine, plan.job_id)
    run_gate(engine, plan.job_id)
    return plan.job_id


def _existing(engine) -> int:
    with engine.connect() as conn:
        query = sa.text("SELECT count(*) FROM segpipe.profiles WHERE external_id = ANY(:ids)")
        return conn.execute(query, {"ids": GERMANS}).scalar_one()


def _conninfo(db_url: str, user: str | None = None) -> str:
    url = make_url(db_url).set(drivername="postgresql")
    return (url.set(username=user) if user else url).render_as_string(hide_password=False)


@pytest.fixture()
def login_role(db_url):
    """A login role with no privilege but USAGE on the schema (no DELETE on any table); dropped afterwards."""
    name = f"segpipe_t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_conninfo(db_url), autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{name}" LOGIN')
        conn.execute(f'GRANT USAGE ON SCHEMA segpipe TO "{name}"')
    yield name
    with psycopg.connect(_conninfo(db_url), autocommit=True) as conn:
        conn.execute(f'DROP OWNED BY "{name}"')
        conn.execute(f'DROP ROLE "{name}"')


def test_an_actor_without_the_permissions_is_refused_by_postgres(world, db_url):
    job_id = _gated(world)
    with world.begin() as conn:
        conn.execute(sa.text("DELETE FROM segpipe.grants WHERE actor = 'alice' AND permission = 'profiles:edit'"))
    with psycopg.connect(_conninfo(db_url)) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege) as caught:
        conn.execute(CALL, (job_id,))
    assert "lacks profiles:view or profiles:edit" in str(caught.value)
    with pytest.raises(GateRefused) as refused:
        delete_batch(world, job_id, 1)
    assert refused.value.gate == "permission" and "alice" in refused.value.message
    assert _existing(world) == 6


def test_a_job_that_did_not_pass_its_gate_or_is_a_dry_run_is_refused(world, db_url):
    plan = plan_deletion(world, DeletionRequest("de", "alice", 6, "German customers", batch_size=3))
    freeze_manifest(world, plan.job_id)
    dry = _gated(world, dry_run=True)
    for job_id in (plan.job_id, dry):
        with psycopg.connect(_conninfo(db_url)) as conn, pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
            conn.execute(CALL, (job_id,))
    assert _existing(world) == 6


def test_only_the_creating_role_or_an_admin_deletes_and_needs_no_delete_privilege(world, db_url, login_role):
    job_id = _gated(world)
    with psycopg.connect(_conninfo(db_url, login_role)) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as caught:
            conn.execute(CALL, (job_id,))
        assert "did not create deletion job" in str(caught.value)
        conn.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM segpipe.profiles")
    assert _existing(world) == 6
    with world.begin() as conn:
        conn.execute(
            sa.text("UPDATE segpipe.deletion_jobs SET session_role = :r WHERE id = :j"), {"r": login_role, "j": job_id}
        )
    with psycopg.connect(_conninfo(db_url, login_role)) as conn:
        detail = conn.execute(CALL, (job_id,)).fetchone()[0]
    assert detail["tables"]["profiles"] == 3 and len(detail["external_id_hashes"]) == 3
    assert _existing(world) == 3


def test_the_job_records_the_session_role(world, db_url):
    job_id = _gated(world)
    with world.connect() as conn:
        role, user = conn.execute(
            sa.text("SELECT session_role, session_user FROM segpipe.deletion_jobs WHERE id = :j"), {"j": job_id}
        ).one()
    assert role == user
