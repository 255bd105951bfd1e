"""resolve_actor and require_permission: who acts, what it costs, the flows' rule, and unmigrated databases."""

from __future__ import annotations

import statistics
import time
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from segpipe.actors import Actor, resolve_actor
from segpipe.errors import GateRefused, InvalidInput
from segpipe.permissions import SEGMENTS_EDIT, grant, require_permission


def test_actor_is_the_session_role(logins):
    engine = logins["operator"].engine()
    with engine.connect() as conn:
        me = resolve_actor(conn)
        assert me == Actor(logins["operator"].name, logins["operator"].name, False)
        assert resolve_actor(conn, logins["operator"].name) == me  # naming yourself is fine
        with pytest.raises(InvalidInput):
            resolve_actor(conn, " padded")
    engine.dispose()


def test_admin_may_act_for_another(logins):
    engine = logins["admin"].engine()
    with engine.connect() as conn:
        actor = resolve_actor(conn, "yan")
    engine.dispose()
    assert (actor.session, actor.actor, actor.admin, actor.on_behalf) == (logins["admin"].name, "yan", True, True)
    assert actor.label == f"{logins['admin'].name} on behalf of yan"


def test_the_check_costs_under_5_ms(engine, logins):
    """resolve_actor + require_permission, as a non-admin holding the permission (the full path)."""
    operator = logins["operator"].name
    with engine.begin() as conn:
        grant(conn, operator, [SEGMENTS_EDIT])
    login = logins["operator"].engine()
    timings = []
    with login.connect() as conn:
        for _ in range(50):
            start = time.perf_counter()
            require_permission(conn, resolve_actor(conn), SEGMENTS_EDIT)
            timings.append((time.perf_counter() - start) * 1000)
    login.dispose()
    assert statistics.median(timings) < 5, timings


def test_the_flow_task_follows_the_same_rule(logins, monkeypatch):
    from tasks.actors import resolve_actor_task

    monkeypatch.setenv("SEGPIPE_DATABASE_URL", logins["operator"].url)
    assert resolve_actor_task.fn(None, "test") == logins["operator"].name
    with pytest.raises(GateRefused) as refused:
        resolve_actor_task.fn("someone-else", "test")
    assert refused.value.gate == "actor"
    monkeypatch.setenv("SEGPIPE_DATABASE_URL", logins["admin"].url)
    assert resolve_actor_task.fn("someone-else", "test") == "someone-else"


def test_a_role_that_may_not_migrate_is_told_what_to_do(server_url, logins, cli):
    """A fresh database is migrated by an admin's first command; a reader's gets one clear line (exit 1)."""
    name = f"segpipe_fresh_{uuid.uuid4().hex[:8]}"
    root = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with root.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(server_url).set(database=name, username=logins["reader"].name)
    try:
        result = cli("segment", "list", env={"SEGPIPE_DATABASE_URL": url.render_as_string(hide_password=False)})
        assert result.exit_code == 1, result.output
        assert "needs migrations this role may not apply" in result.stderr
    finally:
        with root.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        root.dispose()


def test_a_role_in_no_group_is_told_how_to_get_access(logins, cli):
    result = cli("segment", "list", env={"SEGPIPE_DATABASE_URL": logins["nobody"].url})
    assert result.exit_code == 3, result.output  # a permission refusal (contract §7: a refusal is exit 3)
    assert f'GRANT segpipe_reader TO "{logins["nobody"].name}"' in result.stderr
