"""Postgres itself enforces the roles: plain SQL as each login role (no segpipe code in between)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from segpipe.db.migrate import grants_script
from tests.cleanup import truncate_written

# Statements each role must be refused (SQLSTATE 42501), whatever segpipe's own grants say.
DENIED = {
    "reader": [
        "INSERT INTO segpipe.profiles (external_id) VALUES ('x')",
        "UPDATE segpipe.segments SET member_count = 0",
        "DELETE FROM segpipe.memberships",
        "INSERT INTO segpipe.refresh_runs (trigger, as_of) VALUES ('manual', now())",
        "SELECT * FROM segpipe.settings",
    ],
    "operator": [
        "DELETE FROM segpipe.profiles",
        "DELETE FROM segpipe.events",
        "DELETE FROM segpipe.event_ids",
        "DELETE FROM segpipe.subscriptions",
        "UPDATE segpipe.segments SET rules = '{}'::jsonb",
        "UPDATE segpipe.segments SET name = 'x'",
        "INSERT INTO segpipe.segments (key, name, rules) VALUES ('x', 'X', '{}')",
        "INSERT INTO segpipe.consumers (kind, key, spec) VALUES ('report', 'r', '{}')",
        "INSERT INTO segpipe.grants (actor, permission) VALUES ('me', 'profiles:edit')",
    ],
    "editor": [
        "DELETE FROM segpipe.profiles",
        "DELETE FROM segpipe.events",
        "DELETE FROM segpipe.subscriptions",
        "INSERT INTO segpipe.grants (actor, permission) VALUES ('me', 'profiles:edit')",
        "UPDATE segpipe.grants SET actor = 'me'",
        "DELETE FROM segpipe.grants",
        "INSERT INTO segpipe.grant_audit (action, actor, permission) VALUES ('grant', 'me', 'profiles:edit')",
        "INSERT INTO segpipe.security_audit (session_role, gate, command) VALUES ('x', 'actor', 'y')",
        "INSERT INTO segpipe.deletion_audit (job_id, step) VALUES (gen_random_uuid(), 'x')",
        "UPDATE segpipe.deletion_jobs SET state = 'completed'",
        "SELECT segpipe.grant_permission('me', 'profiles:edit')",
        "SELECT segpipe.revoke_permission('someone', 'profiles:edit')",
    ],
    "nobody": ["SELECT count(*) FROM segpipe.profiles", "SELECT segpipe.grant_permission('me', 'segments:edit')"],
    # Even an admin changes permissions only through the audited functions.
    "admin": [
        "INSERT INTO segpipe.grants (actor, permission) VALUES ('me', 'profiles:edit')",
        "DELETE FROM segpipe.grant_audit",
    ],
}

# Statements each role may run (each in a transaction rolled back afterwards).
ALLOWED = {
    "reader": [
        "SELECT count(*) FROM segpipe.profiles",
        "SELECT count(*) FROM segpipe.segments",
        "SELECT count(*) FROM segpipe.grants",
        "SELECT segpipe.holds_permission('anyone', 'segments:edit')",
        "SELECT * FROM segpipe.session_actor()",
    ],
    "operator": [
        "INSERT INTO segpipe.profiles (external_id) VALUES ('new-one')",
        "UPDATE segpipe.segments SET member_count = 0, status = 'active'",
        "DELETE FROM segpipe.memberships",
        "SELECT nextval('segpipe.data_version')",
        "CREATE UNLOGGED TABLE segpipe.run_features_999999 (x int)",
    ],
    "editor": [
        "UPDATE segpipe.segments SET name = name || ' (x)'",
        "DELETE FROM segpipe.consumers",
        "INSERT INTO segpipe.segments (key, name, rules) VALUES ('x', 'X', '{}')",
    ],
    "admin": [
        "DELETE FROM segpipe.events",
        "DELETE FROM segpipe.profiles",
        "SELECT segpipe.grant_permission('someone', 'segments:edit')",
    ],
}


@pytest.fixture(scope="module")
def world(engine):
    """A segment, a consumer and a profile, written as root (every statement below is rolled back or refused)."""
    truncate_written(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO segpipe.segments (key, name, rules) VALUES ('gold', 'Gold', '{}');"
                " INSERT INTO segpipe.consumers (kind, key, spec) VALUES ('report', 'funnel', '{}');"
                " INSERT INTO segpipe.profiles (external_id) VALUES ('p1')"
            )
        )
    return engine


def _cases(table: dict[str, list[str]]) -> list[tuple[str, str]]:
    return [(kind, statement) for kind, statements in table.items() for statement in statements]


@pytest.mark.parametrize(("kind", "statement"), _cases(DENIED), ids=lambda v: v[:60])
def test_denied(world, logins, kind, statement):
    engine = logins[kind].engine()
    with pytest.raises(sa.exc.DBAPIError) as refused, engine.begin() as conn:
        conn.execute(sa.text(statement))
    assert refused.value.orig.sqlstate == "42501", refused.value
    engine.dispose()


@pytest.mark.parametrize(("kind", "statement"), _cases(ALLOWED), ids=lambda v: v[:60])
def test_allowed(world, logins, kind, statement):
    engine = logins[kind].engine()
    with engine.connect() as conn:
        conn.execute(sa.text(statement))
        conn.rollback()
    engine.dispose()


def test_grant_function_refuses_non_admins_and_audits_admins(world, logins, engine):
    for kind in ("reader", "operator", "editor"):
        login = logins[kind].engine()
        with pytest.raises(sa.exc.DBAPIError, match="only an admin grants"), login.begin() as conn:
            conn.execute(sa.text("SELECT segpipe.grant_permission(:me, 'profiles:edit')"), {"me": logins[kind].name})
        login.dispose()
    admin = logins["admin"].engine()
    with admin.begin() as conn:
        assert conn.execute(sa.text("SELECT segpipe.is_admin(session_user)")).scalar() is True
        assert conn.execute(sa.text("SELECT segpipe.grant_permission('zoe', 'profiles:view', 'yan')")).scalar()
        assert not conn.execute(sa.text("SELECT segpipe.grant_permission('zoe', 'profiles:view')")).scalar()
    admin.dispose()
    with engine.connect() as conn:
        audit = conn.execute(
            sa.text("SELECT action, changed_by, on_behalf_of FROM segpipe.grant_audit WHERE actor = 'zoe'")
        ).all()
        names = [r[0] for r in conn.execute(sa.text("SELECT actor FROM segpipe.grants WHERE actor LIKE 'sp_%'"))]
    assert audit == [("grant", logins["admin"].name, "yan")]
    assert names == []


def test_is_admin_follows_the_groups(world, logins, engine):
    with engine.connect() as conn:
        admins = {
            kind: conn.execute(sa.text("SELECT segpipe.is_admin(:n)"), {"n": login.name}).scalar()
            for kind, login in logins.items()
        }
        assert conn.execute(sa.text("SELECT segpipe.is_admin(session_user)")).scalar() is True  # root: superuser
    assert admins == {"reader": False, "operator": False, "editor": False, "admin": True, "nobody": False}


def test_grants_rerun_cleanly(world, engine):
    """The grants source is idempotent: the migrator may run it again at any time."""
    with engine.begin() as conn:
        for _ in range(2):
            conn.connection.driver_connection.execute(grants_script().sql.encode())
