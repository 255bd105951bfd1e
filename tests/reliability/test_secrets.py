# ruff: noqa: E501  (commands read best one per line)
"""Secrets and personal data: a password in SEGPIPE_DATABASE_URL never shows; deleted profiles leave no raw identifier.

A LOGIN role with a password connects over TCP to 127.0.0.1. The main commands run through the real `segpipe`
(successes and failures: bad input, a refused gate, an unreachable database), then flows on the real Prefect server;
stdout, stderr, JSON errors, exception text, and the server's flow runs, logs, artifacts and events are searched.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from segpipe.config import Settings
from segpipe.db.engine import get_engine
from tests.reliability.helpers import SEGPIPE, table_names
from tests.reliability.world import OBJECTS, profile_rows, write_jsonl

pytestmark = pytest.mark.reliability
PASSWORD = f"Pw-{uuid.uuid4().hex}-s3cret"
DOOMED = [
    {"external_id": f"gone-{i}", "email": f"gone-{i}@private.example", "attributes": {"doom": 1}} for i in range(12)
]


@pytest.fixture(scope="module")
def secret_url(db_url: str, engine) -> Iterator[str]:
    """This module's database through a password-carrying LOGIN role (unique name, dropped afterwards)."""
    role = f"segpipe_secret_{uuid.uuid4().hex[:10]}"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f"CREATE ROLE {role} LOGIN SUPERUSER PASSWORD '{PASSWORD}'"))  # test-made name
    url = make_url(db_url).set(username=role, password=PASSWORD, host="127.0.0.1", port=5432)
    yield url.render_as_string(hide_password=False)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'"))
        conn.execute(sa.text(f"REASSIGN OWNED BY {role} TO CURRENT_USER"))
        conn.execute(sa.text(f"DROP OWNED BY {role}"))
        conn.execute(sa.text(f"DROP ROLE {role}"))


def _run(url: str, home, *args: str, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SEGPIPE_DATABASE_URL": url, "SEGPIPE_HOME": str(home), "SEGPIPE_ORCHESTRATION": "direct"}
    env.pop("PREFECT_API_URL", None)
    done = subprocess.run([str(SEGPIPE), *args], env={**env, **(extra or {})}, capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert PASSWORD not in done.stdout and PASSWORD not in done.stderr, f"password shown by segpipe {args}"
    assert "Traceback" not in done.stderr, done.stderr
    return done


def _files(home) -> dict[str, str]:
    paths = {
        "profiles": write_jsonl(home / "p.jsonl", profile_rows(0, 300) + DOOMED),
        "bad": write_jsonl(home / "bad.jsonl", [{"external_id": "x", "created_at": "yesterday"}]),
        "objects": home / "objects.yaml",
        "doomed": home / "doomed.yaml",
    }
    paths["objects"].write_text(OBJECTS)
    paths["doomed"].write_text("kind: Segment\nkey: doomed\nname: Doomed\nrules: {attribute: doom, op: eq, value: 1}\n")
    return {k: str(v) for k, v in paths.items()}


def test_no_password_in_any_output_of_the_main_commands(secret_url, tmp_path):
    files = _files(tmp_path)
    ok = [
        ("load", "profiles", files["profiles"]),
        ("apply", files["objects"], files["doomed"]),
        ("refresh", "--all", "--json"),
        ("segment", "list", "--json"),
        ("segment", "show", "de"),
        ("presend", "bf", "--json"),
        ("classify",),
        ("db", "url"),
        ("db", "url", "--json"),
        ("db", "status", "--json"),
    ]
    for args in ok:
        done = _run(secret_url, tmp_path, *args)
        assert done.returncode == 0, (args, done.stderr)
    failing = [
        (("load", "profiles", files["bad"]), 2),
        (("load", "profiles", files["bad"], "--json"), 2),
        (("segment", "show", "nope", "--json"), 2),
        (("delete-profiles", "doomed", "--confirm", "Doomed", "--expect", "999", "--actor", "nobody", "--json"), 3),
        (("refresh", "--all", "--as-of", "not-a-time"), 2),
    ]
    for args, code in failing:
        done = _run(secret_url, tmp_path, *args)
        assert done.returncode == code, (args, done.returncode, done.stderr)


def test_no_password_when_the_database_is_unreachable(secret_url, tmp_path):
    for port in (1, 5999):
        url = make_url(secret_url).set(port=port).render_as_string(hide_password=False)
        for args in (("segment", "list"), ("segment", "list", "--json"), ("load", "profiles", "-")):
            done = _run(url, tmp_path, *args, extra={"PGCONNECT_TIMEOUT": "3"})
            assert done.returncode != 0 and done.stderr.startswith("error: "), done.stderr
    bad = make_url(secret_url).set(port=1).render_as_string(hide_password=False)
    with pytest.raises(Exception) as caught:
        get_engine(Settings(database_url=bad, home=tmp_path))
    text = "".join(str(x) + repr(x) for x in (caught.value, caught.value.__cause__, caught.value.__context__))
    assert PASSWORD not in text


def _tables_mentioning(engine, text: str) -> list[str]:
    """The segpipe tables with a row whose text holds `text` (table names from the catalog)."""
    found = []
    with engine.connect() as conn:
        for name in table_names(engine):
            query = f'SELECT EXISTS (SELECT 1 FROM segpipe."{name}" r WHERE strpos(r::text, :t) > 0)'
            if conn.execute(sa.text(query), {"t": text}).scalar_one():
                found.append(name)
    return found


def _prefect_everything(server) -> str:
    """Flow runs, task runs, logs, artifacts, events and the server log, as one text."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        parts: list[Any] = [
            [r.model_dump(mode="json") for r in client.read_flow_runs(limit=200)],
            [r.model_dump(mode="json") for r in client.read_task_runs(limit=200)],
            [r.model_dump(mode="json") for r in client.read_logs(limit=200)],
            [r.model_dump(mode="json") for r in client.read_artifacts(limit=200)],
        ]
    events = httpx.post(f"{server.api_url}/events/filter", json={"limit": 200}, timeout=30).json()
    parts.append(events)
    return json.dumps(parts) + server.log.read_text(errors="replace")


def test_flows_on_prefect_hold_no_password_and_no_deleted_identifier(
    secret_url, prefect_server, engine, tmp_path, monkeypatch
):
    from flows.classify import classify_inactive
    from flows.delete_profiles import delete_segment_profiles

    files = _files(tmp_path)
    for args in (
        ("load", "profiles", files["profiles"]),
        ("apply", files["objects"], files["doomed"]),
        ("grant", "alice", "profiles:view", "profiles:edit"),
    ):
        assert _run(secret_url, tmp_path, *args).returncode == 0
    flows = prefect_server.env() | {"SEGPIPE_ORCHESTRATION": "prefect"}
    for args, code in [
        (("refresh", "--all"), 0),
        (("presend", "bf"), 0),
        (("refresh", "--all", "--as-of", "1990-01-01T00:00:00Z"), None),  # refused or held: any clean outcome
    ]:
        done = _run(secret_url, tmp_path, *args, extra=flows)
        assert code is None or done.returncode == code, (args, done.stderr[-2000:])
    monkeypatch.setenv("SEGPIPE_DATABASE_URL", secret_url)  # classify and deletion run as flows in this process
    monkeypatch.setenv("SEGPIPE_HOME", str(tmp_path))
    classify_inactive()
    refused = delete_segment_profiles(
        segment_key="doomed", actor="alice", confirm_name="Doomed", expected=99, return_state=True
    )
    assert not refused.is_completed() or refused.result(raise_on_failure=False)["status"] != "completed"
    done = delete_segment_profiles(
        segment_key="doomed", actor="alice", confirm_name="Doomed", expected=12, return_state=True
    )
    assert done.is_completed(), done.message
    everything = _prefect_everything(prefect_server)
    missing = [
        name for name in ("refresh-all", "presend bf", "classify", "delete-profiles doomed") if name not in everything
    ]
    assert not missing, f"no flow run {missing} on the server: {everything[:1500]}"
    assert PASSWORD not in everything
    with engine.connect() as conn:
        audit = " ".join(conn.execute(sa.text("SELECT detail::text FROM segpipe.deletion_audit")).scalars())
        gone = conn.execute(
            sa.text("SELECT count(*) FROM segpipe.profiles WHERE external_id LIKE 'gone-%'")
        ).scalar_one()
    assert gone == 0
    assert _tables_mentioning(engine, "gone-") == [], "a deleted profile's identifier survives in the database"
    for row in DOOMED:
        for value in (row["external_id"], row["email"]):
            at = everything.find(value)
            assert at < 0, (
                f"{value} in Prefect runs, logs, artifacts or events: ...{everything[max(0, at - 700) : at + 200]}"
            )
            assert value not in audit, f"{value} in the deletion audit"
