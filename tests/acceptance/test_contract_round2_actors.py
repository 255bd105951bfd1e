"""Contract §7 "Actors and roles", through the real CLI as real login roles (issue 11.1-3).

The actor of a command is the database session's role. Admin = superuser, owner of segpipe's schema, or member of
`segpipe_admin`; only an admin grants/revokes or acts `--actor` on behalf of another actor (recorded as both).
The migrations create the NOLOGIN group roles; `segments:edit` guards declarative segment changes and the segment
lifecycle; `profiles:view` + `profiles:edit` guard deletion; `segpipe permissions [ACTOR]` lists grants; a
refusal is exit 3.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from tests.acceptance.contract_driver import Driver, seg

GROUP_ROLES = ("segpipe_reader", "segpipe_operator", "segpipe_editor", "segpipe_admin")
LOGINS = {"reader": "segpipe_reader", "operator": "segpipe_operator", "editor": "segpipe_editor"}
LOGINS |= {"admin": "segpipe_admin"}


def _autocommit(url: str) -> Engine:
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


@pytest.fixture(scope="module")
def roles(db_url: str, engine: Engine) -> Iterator[dict[str, str]]:
    """{kind: login role name}, one per group role, unique to this module; dropped at its end."""
    tag = uuid.uuid4().hex[:8]
    names = {kind: f"acc_{kind}_{tag}" for kind in LOGINS}
    root = _autocommit(db_url)
    with root.connect() as conn:
        for kind, name in names.items():
            conn.exec_driver_sql(f'CREATE ROLE "{name}" LOGIN')
            conn.exec_driver_sql(f'GRANT {LOGINS[kind]} TO "{name}"')
    yield names
    engine.dispose()
    with root.connect() as conn:
        conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename LIKE %s", (f"acc_%_{tag}",)
        )
        for name in names.values():
            conn.exec_driver_sql(f'DROP OWNED BY "{name}"')
            conn.exec_driver_sql(f'DROP ROLE "{name}"')
    root.dispose()


@pytest.fixture()
def sp(cli, tmp_path) -> Driver:
    return Driver(cli, tmp_path)


class As:
    """`segpipe` as one login role: the same strict checks as the Driver (no traceback, one error line)."""

    def __init__(self, sp: Driver, db_url: str, role: str) -> None:
        self.sp = sp
        self.role = role
        self.env = {"SEGPIPE_DATABASE_URL": make_url(db_url).set(username=role).render_as_string(False)}

    def run(self, *args: Any) -> Any:
        return self.sp.run(*args, env=self.env)

    def ok(self, *args: Any) -> Any:
        return self.sp.ok(*args, env=self.env)

    def refused(self, *args: Any) -> tuple[str, dict[str, Any]]:
        """Exit 3 both ways; the error line and the --json error object."""
        line = self.sp.fails(3, *args, env=self.env)
        data = json.loads(self.run(*args, "--json").stdout)
        return line, data


@pytest.fixture()
def as_(sp: Driver, db_url: str, roles: dict[str, str]):
    return lambda kind: As(sp, db_url, roles[kind])


def test_the_migrations_create_the_four_nologin_group_roles(engine: Engine) -> None:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname = ANY(:names)"),
            {"names": list(GROUP_ROLES)},
        ).all()
    assert {name: can_login for name, can_login in rows} == dict.fromkeys(GROUP_ROLES, False)


def test_permissions_lists_grants_for_every_role(sp: Driver, as_, roles: dict[str, str]) -> None:
    editor = roles["editor"]
    assert sp.ok("grant", editor, "segments:edit")
    for kind in ("reader", "operator", "editor", "admin"):
        one = as_(kind).ok("permissions", editor)
        assert one["actor"] == editor and one["permissions"] == ["segments:edit"] and one["admin"] is False
        listed = {row["actor"]: row for row in as_(kind).ok("permissions")}
        assert listed[editor]["permissions"] == ["segments:edit"]
    admin = sp.ok("permissions", roles["admin"])
    assert admin["admin"] is True and admin["actor"] == roles["admin"]
    nobody = sp.ok("permissions", "never-granted-" + uuid.uuid4().hex[:6])
    assert nobody["permissions"] == [] and nobody["admin"] is False


@pytest.mark.parametrize("command", ["grant", "revoke"])
def test_only_an_admin_grants_or_revokes(sp: Driver, as_, roles: dict[str, str], command: str) -> None:
    editor = roles["editor"]
    for kind in ("reader", "operator", "editor"):
        line, data = as_(kind).refused(command, editor, "profiles:edit")
        assert "admin" in line and data["gate"] == "permission"
    assert "profiles:edit" not in sp.ok("permissions", editor)["permissions"]
    assert as_("admin").ok(command, editor, "profiles:edit")
    expected = ["profiles:edit"] if command == "grant" else []
    assert [p for p in sp.ok("permissions", editor)["permissions"] if p.startswith("profiles")] == expected
    sp.ok("revoke", editor, "profiles:edit")


def test_a_non_admin_may_not_act_on_behalf_of_someone_else(sp: Driver, as_, roles: dict[str, str]) -> None:
    key = sp.segment("mine")
    editor = as_("editor")
    sp.ok("grant", roles["editor"], "segments:edit")
    line, data = editor.refused("segment", "archive", key, "--actor", "mallory")
    assert "mallory" in line and roles["editor"] in line and data["gate"] == "actor"
    assert sp.show(key)["archived"] is False
    line, _ = editor.refused("grant", "mallory", "profiles:edit", "--by", "mallory")
    assert "profiles:edit" not in sp.ok("permissions", "mallory")["permissions"]
    assert editor.ok("segment", "archive", key, "--actor", roles["editor"])  # naming oneself is fine
    assert sp.show(key)["archived"] is True


def test_segments_edit_guards_apply_and_every_lifecycle_command(sp: Driver, as_, roles: dict[str, str]) -> None:
    editor, name = as_("editor"), roles["editor"]
    key = sp.segment("owned")
    sp.ok("revoke", name, "segments:edit")
    commands = [
        ("apply", sp.yaml_file(seg(sp.k("new")))),
        ("segment", "archive", key),
        ("segment", "unarchive", key),
        ("segment", "resume", key),
        ("segment", "deactivate", key),
        ("segment", "rename", key, sp.k("renamed")),
        ("segment", "clone", key, sp.k("cloned")),
        ("segment", "delete", key, "--yes"),
    ]
    for args in commands:
        line, data = editor.refused(*args)
        assert "segments:edit" in line and name in line, (args, line)
        assert data["gate"] == "permission"
    assert not sp.exists(sp.k("new")) and not sp.exists(sp.k("cloned")) and sp.exists(key)
    sp.ok("grant", name, "segments:edit")
    for args in commands:
        assert editor.run(*args).exit_code == 0, args
    assert sp.exists(sp.k("new")) and sp.exists(sp.k("cloned")) and not sp.exists(key)


def test_the_actor_recorded_is_the_session_role_and_on_behalf_names_both(
    sp: Driver, as_, roles: dict[str, str]
) -> None:
    editor, admin = roles["editor"], roles["admin"]
    sp.ok("grant", editor, "segments:edit")
    key = sp.k("recorded")
    as_("editor").ok("apply", sp.yaml_file(seg(key)))
    history = sp.ok("segment", "history", key)
    assert history["definitions"][0]["changed_by"] == editor
    as_("admin").ok("segment", "deactivate", key, "--actor", editor)
    events = json.dumps(sp.show(key)["events"] + sp.show(key)["history"])
    assert admin in events and editor in events


def test_a_reader_writes_nothing_and_an_operator_defines_no_segment(sp: Driver, as_, roles: dict[str, str]) -> None:
    key = sp.segment("readable")
    reader, operator = as_("reader"), as_("operator")
    assert reader.ok("segment", "show", key)["key"] == key
    profiles = sp.file("p.jsonl", json.dumps({"external_id": sp.k("x")}) + "\n")
    for args in [("load", "profiles", profiles), ("refresh", key), ("classify",)]:
        line, data = reader.refused(*args)
        assert data["gate"] == "permission", (args, line)
    operator.ok("load", "profiles", profiles)
    assert operator.ok("refresh", key)[0]["status"] == "succeeded"
    sp.ok("grant", roles["operator"], "segments:edit")  # the permission alone is not the Postgres role
    line, data = operator.refused("apply", sp.yaml_file(seg(sp.k("op-new"))))
    assert data["gate"] == "permission"
    assert not sp.exists(sp.k("op-new"))
    sp.ok("revoke", roles["operator"], "segments:edit")


def test_deletion_needs_both_profiles_permissions_even_for_an_admin(sp: Driver, as_, roles: dict[str, str]) -> None:
    scope = {"attribute": "external_id", "op": "eq", "value": sp.k("d1")}
    key = sp.segment("doomed", scope, display=sp.k("Doomed"))
    sp.ok("load", "profiles", sp.file("d.jsonl", json.dumps({"external_id": sp.k("d1")}) + "\n"))
    sp.ok("refresh", key)
    admin, name = as_("admin"), roles["admin"]
    args = (
        "delete-profiles",
        key,
        "--confirm",
        sp.k("Doomed"),
        "--expect",
        1,
        "--actor",
        name,
        "--dry-run",
        "--max-share",
        1,
    )
    line, _ = admin.refused(*args)
    assert "profiles:view" in line and "profiles:edit" in line, line
    sp.ok("grant", name, "profiles:view")
    line, _ = admin.refused(*args)
    assert "profiles:edit" in line, line
    sp.ok("grant", name, "profiles:edit")
    preview = admin.ok(*args)
    assert {"job_id", "status", "matched", "deleted_profiles"} <= set(preview)
    assert preview["matched"] == 1 and preview["deleted_profiles"] == 0
    sp.ok("revoke", name, "profiles:view", "profiles:edit")


def test_a_login_role_in_no_group_is_refused_with_exit_3(sp: Driver, db_url: str) -> None:
    name = f"acc_nogroup_{uuid.uuid4().hex[:8]}"
    root = _autocommit(db_url)
    with root.connect() as conn:
        conn.exec_driver_sql(f'CREATE ROLE "{name}" LOGIN')
    try:
        who = As(sp, db_url, name)
        for args in [("segment", "list"), ("permissions",), ("load", "profiles", sp.file("n.jsonl", "{}\n"))]:
            line, data = who.refused(*args)
            assert name in line and "segpipe_reader" in line, line
            assert data["gate"] == "permission"
    finally:
        with root.connect() as conn:
            conn.exec_driver_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (name,))
            conn.exec_driver_sql(f'DROP ROLE "{name}"')
        root.dispose()
