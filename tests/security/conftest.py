"""Real login roles for the security tests: one per group role, a role in no group, and a non-superuser admin.

Roles are cluster-wide, so their names carry a random suffix; they are dropped (with what they own in this
module's database) when the module ends.
"""

from __future__ import annotations

import json
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from tests.cleanup import truncate_written

GROUPS = {"reader": "segpipe_reader", "operator": "segpipe_operator", "editor": "segpipe_editor"}
GROUPS |= {"admin": "segpipe_admin", "nobody": None}


@dataclass
class Login:
    """A login role and how to reach this module's database as it."""

    kind: str
    name: str
    url: str

    def engine(self) -> Engine:
        return sa.create_engine(self.url, poolclass=sa.pool.NullPool)


def _root(url: str) -> Engine:
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


@pytest.fixture(scope="module")
def logins(db_url: str, engine: Engine) -> Iterator[dict[str, Login]]:
    tag = uuid.uuid4().hex[:8]
    made = {kind: Login(kind, f"sp_{kind}_{tag}", "") for kind in GROUPS}
    root = _root(db_url)
    with root.connect() as conn:
        for kind, login in made.items():
            conn.exec_driver_sql(f'CREATE ROLE "{login.name}" LOGIN')
            if GROUPS[kind]:
                conn.exec_driver_sql(f'GRANT {GROUPS[kind]} TO "{login.name}"')
            login.url = make_url(db_url).set(username=login.name).render_as_string(hide_password=False)
    yield made
    engine.dispose()
    with root.connect() as conn:
        conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename LIKE %s", (f"sp_%_{tag}",)
        )
        for login in made.values():
            conn.exec_driver_sql(f'DROP OWNED BY "{login.name}"')
            conn.exec_driver_sql(f'DROP ROLE "{login.name}"')
    root.dispose()


@pytest.fixture()
def world(cli, engine: Engine, tmp_path: Path) -> Path:
    """As root: an empty database with segments `gold` and `silver`, a scheduled campaign and three profiles."""
    truncate_written(engine)
    docs = """
        kind: Segment
        key: gold
        name: Gold
        rules: {attribute: tier, op: eq, value: gold}
        ---
        kind: Segment
        key: silver
        name: Silver
        rules: {attribute: tier, op: eq, value: silver}
        ---
        kind: Campaign
        key: promo
        name: Promo
        channel: email
        status: scheduled
        include: [gold]
    """
    assert cli("apply", write(tmp_path, "world.yaml", docs)).exit_code == 0
    assert cli("load", "profiles", profiles_file(tmp_path, ["p1", "p2", "p3"])).exit_code == 0
    return tmp_path


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def profiles_file(folder: Path, ids: list[str], tier: str = "gold") -> Path:
    path = folder / f"profiles-{uuid.uuid4().hex[:6]}.jsonl"
    rows = [{"external_id": i, "attributes": {"tier": tier}} for i in ids]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture()
def as_role(cli, logins: dict[str, Login]):
    """Run the real `segpipe` command as one of the login roles: `as_role("reader", "segment", "list")`."""

    def run(kind: str, *args: Any, input: str | None = None):
        return cli(*args, input=input, env={"SEGPIPE_DATABASE_URL": logins[kind].url})

    return run


@pytest.fixture()
def audit(engine: Engine):
    """`audit(role)`: the security_audit rows of a session role written during this test, oldest first."""
    with engine.connect() as conn:
        since = conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM segpipe.security_audit")).scalar()
    query = sa.text(
        "SELECT session_role, claimed_actor, gate, command, detail FROM segpipe.security_audit"
        " WHERE session_role = :r AND id > :since ORDER BY id"
    )

    def rows(role: str) -> list[dict[str, Any]]:
        with engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query, {"r": role, "since": since})]

    return rows
