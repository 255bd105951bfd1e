from __future__ import annotations

import pytest
import sqlalchemy as sa

from segpipe.errors import GateRefused, InvalidInput
from segpipe.permissions import grant, require_permissions, revoke
from tests.deletion.helpers import output_json


def _audit(engine, actor):
    with engine.connect() as conn:
        query = sa.text(
            "SELECT action, permission, changed_by = session_user::text, on_behalf_of"
            " FROM segpipe.grant_audit WHERE actor = :a ORDER BY id"
        )
        return [tuple(row) for row in conn.execute(query, {"a": actor})]


def test_grant_and_revoke_are_audited(clean, cli):
    result = cli("grant", "carol", "profiles:view", "profiles:edit", "--by", "admin", "--json")
    assert result.exit_code == 0, result.output
    assert output_json(result) == {
        "actor": "carol",
        "action": "grant",
        "changed": ["profiles:edit", "profiles:view"],
        "permissions": ["profiles:edit", "profiles:view"],
    }
    assert cli("grant", "carol", "profiles:view", "--by", "admin").exit_code == 0  # already held: no change
    result = cli("revoke", "carol", "profiles:edit", "segments:edit", "--by", "admin", "--json")
    assert output_json(result)["changed"] == ["profiles:edit"]
    assert output_json(result)["permissions"] == ["profiles:view"]
    # changed_by is the authenticated session role; `--by admin` (an admin acting for someone) is kept beside it.
    assert _audit(clean, "carol") == [
        ("grant", "profiles:edit", True, "admin"),
        ("grant", "profiles:view", True, "admin"),
        ("revoke", "profiles:edit", True, "admin"),
    ]


def test_deny_by_default(clean):
    with clean.begin() as conn, pytest.raises(GateRefused) as refused:
        require_permissions(conn, "nobody", ["profiles:view", "profiles:edit"])
    assert refused.value.gate == "permission" and refused.value.exit_code == 3
    assert refused.value.details["missing"] == ["profiles:view", "profiles:edit"]


@pytest.mark.parametrize("args", [("dave", "profiles:delete"), ("dave",), (" dave", "profiles:view")])
def test_bad_grants_exit_2_and_change_nothing(clean, cli, args):
    result = cli("grant", *args)
    assert result.exit_code == 2, result.output
    assert _audit(clean, "dave") == [] and _audit(clean, " dave") == []


def test_grant_audit_is_append_only(clean):
    with clean.begin() as conn:
        grant(conn, "erin", ["segments:edit"], "admin")
        revoke(conn, "erin", ["segments:edit"], "admin")
    for statement in (
        "UPDATE segpipe.grant_audit SET changed_by = 'mallory'",
        "DELETE FROM segpipe.grant_audit",
        "TRUNCATE segpipe.grant_audit",
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), clean.begin() as conn:
            conn.execute(sa.text(statement))
    assert len(_audit(clean, "erin")) == 2


def test_unknown_permission_is_invalid_input(clean):
    with clean.begin() as conn, pytest.raises(InvalidInput, match="unknown permission 'profiles:delete'"):
        grant(conn, "frank", ["profiles:delete"])
