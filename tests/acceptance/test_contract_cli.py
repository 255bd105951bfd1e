"""Contract §1 and §6 for the command surface: --json everywhere, the error form, exit codes, `db`, grants."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import typer.main

from segpipe.cli.main import app
from tests.acceptance.contract_driver import Driver, campaign, error_line, seg


@pytest.fixture()
def sp(cli, tmp_path) -> Driver:
    return Driver(cli, tmp_path)


def _leaves(command, path=()):
    subcommands = getattr(command, "commands", None)
    if not subcommands:
        yield path, command
        return
    for name, sub in subcommands.items():
        yield from _leaves(sub, (*path, name))


COMMANDS = dict(_leaves(typer.main.get_command(app)))

CONTRACT_COMMANDS = [
    ("quickstart",),
    ("refresh",),
    ("presend",),
    ("classify",),
    ("apply",),
    ("load",),
    ("identify",),
    ("segment", "list"),
    ("segment", "show"),
    ("segment", "members"),
    *(("segment", op) for op in ("usage", "archive", "unarchive", "resume", "clone", "rename", "delete")),
    ("grant",),
    ("revoke",),
    ("delete-profiles",),
    ("deletion", "show"),
    ("db", "status"),
    ("db", "stop"),
    ("db", "url"),
    ("campaign", "stats"),
    ("serve",),
]


@pytest.mark.parametrize("path", CONTRACT_COMMANDS, ids=" ".join)
def test_every_contract_command_exists(path: tuple[str, ...]) -> None:
    assert path in COMMANDS


@pytest.mark.parametrize("path", list(COMMANDS), ids=" ".join)
def test_every_command_takes_json(path: tuple[str, ...]) -> None:
    options = {opt for param in COMMANDS[path].params for opt in getattr(param, "opts", ())}
    assert "--json" in options


@pytest.mark.parametrize("path", [(), ("segment",), ("db",), ("deletion",), ("campaign",), *COMMANDS], ids=" ".join)
def test_help_of_every_command(sp: Driver, path: tuple[str, ...]) -> None:
    result = sp.run(*path, "--help")
    assert result.exit_code == 0 and "Usage" in result.stdout and not result.stderr


# the error form ---------------------------------------------------------------------------------------------------

BAD = [
    ("nosuchcommand",),
    ("segment", "nosuch"),
    ("db", "nosuch"),
    ("apply",),
    ("apply", "{tmp}/missing.yaml"),
    ("apply", "{tmp}/empty"),
    ("apply", "--bogus", "x.yaml"),
    ("segment", "show"),
    ("segment", "show", "no-such-segment"),
    ("segment", "show", "BAD KEY"),
    ("segment", "list", "--bogus"),
    ("segment", "list", "--status", "deleted"),
    ("segment", "list", "--sort", "colour"),
    ("segment", "usage"),
    ("segment", "usage", "no-such-segment"),
    ("segment", "usage", "--of", "campaign:no-such"),
    ("segment", "usage", "--of", "nonsense"),
    ("segment", "members", "no-such-segment"),
    ("segment", "members", "{seg}", "--limit", "many"),
    ("segment", "members", "{seg}", "--format", "xml"),
    ("segment", "members", "{seg}", "--as-of", "someday"),
    ("segment", "archive", "no-such-segment"),
    ("segment", "unarchive", "no-such-segment"),
    ("segment", "resume", "no-such-segment"),
    ("segment", "resume", "{seg}", "--as-of", "2026-13-45T00:00:00Z"),
    ("segment", "clone", "no-such-segment", "x"),
    ("segment", "clone", "{seg}", "Not A Key"),
    ("segment", "rename", "no-such-segment", "Name"),
    ("segment", "rename", "{seg}"),
    ("segment", "delete"),
    ("segment", "delete", "no-such-segment", "--yes"),
    ("segment", "delete", "{free}"),
    ("classify", "--as-of", "yesterday"),
    ("classify", "--as-of", "2026-02-30T00:00:00Z"),
    ("classify", "--grace", "-1"),
    ("classify", "--grace", "a fortnight"),
    ("refresh",),
    ("refresh", "no-such-segment"),
    ("refresh", "{seg}", "--as-of", "garbage"),
    ("refresh", "--all", "--as-of", "garbage"),
    ("presend", "no-such-campaign"),
    ("presend", "{camp}", "--as-of", "garbage"),
    ("grant", "bob"),
    ("grant", "bob", "profiles:delete"),
    ("revoke", "bob", "everything"),
    ("delete-profiles", "no-such-segment", "--confirm", "x", "--expect", "1", "--actor", "{who}"),
    ("delete-profiles", "{seg}", "--confirm", "x", "--expect", "lots", "--actor", "a"),
    ("deletion", "show", "not-a-job"),
    ("campaign", "stats", "no-such-campaign"),
    ("load", "profiles", "{tmp}/missing.jsonl"),
    ("load", "contacts", "{tmp}/x.csv"),
    ("identify",),
]


@pytest.mark.parametrize("args", BAD, ids=lambda a: " ".join(a))
def test_user_errors_are_one_line_exit_2(sp: Driver, tmp_path: Path, args: tuple[str, ...]) -> None:
    key, camp, free, who = sp.k("seg"), sp.k("camp"), sp.k("free"), sp.k("ana")
    if any("{" in a for a in args):
        sp.apply(seg(key), seg(free), campaign(camp, "scheduled", include=[key]))
        sp.ok("grant", who, "profiles:view", "profiles:edit")
    (tmp_path / "empty").mkdir()
    real = [a.format(tmp=tmp_path, seg=key, camp=camp, free=free, who=who) for a in args]
    line = sp.fails(2, *real)
    assert len(line) > len("error: ")


def test_json_error_is_one_object_on_stdout(sp: Driver) -> None:
    result = sp.run("segment", "show", "no-such-segment", "--json")
    error_line(result, 2)
    data = json.loads(result.stdout)
    assert data["error"] and "no-such-segment" in data["error"]
    assert result.stderr.strip() == f"error: {data['error']}"


def test_usage_errors_with_json_print_json(sp: Driver) -> None:
    result = sp.run("segment", "list", "--bogus", "--json")
    error_line(result, 2)
    assert "error" in json.loads(result.stdout)


def test_unreachable_database_is_exit_1_without_traceback(sp: Driver) -> None:
    result = sp.run(
        "segment", "list", "--json", env={"SEGPIPE_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/x"}
    )
    error_line(result, 1)
    assert "error" in json.loads(result.stdout)


def test_exit_3_is_a_safety_gate(sp: Driver) -> None:
    a = sp.k("a")
    sp.apply(seg(a), campaign(sp.k("c"), "draft", include=[a]))
    result = sp.run("segment", "delete", a, "--yes", "--json")
    error_line(result, 3)
    assert json.loads(result.stdout)["error"]


# §1: the configured database -----------------------------------------------------------------------------------------


def test_db_url_and_status_with_a_configured_database(sp: Driver, db_url: str) -> None:
    url = sp.ok("db", "url")["url"]
    assert url == db_url
    plain = sp.run("db", "url")
    assert plain.exit_code == 0 and plain.stdout.strip() == db_url
    status = sp.ok("db", "status")
    assert status["running"] is True and status["url"]
    assert sp.run("db", "status").exit_code == 0


def test_db_url_normalizes_a_plain_postgresql_url(sp: Driver, db_url: str) -> None:
    plain = db_url.replace("postgresql+psycopg://", "postgresql://")
    assert sp.ok("db", "url", env={"SEGPIPE_DATABASE_URL": plain})["url"] == db_url
    assert sp.ok("segment", "list", env={"SEGPIPE_DATABASE_URL": plain}) is not None


# grant / revoke ----------------------------------------------------------------------------------------------------


def test_grant_and_revoke(sp: Driver) -> None:
    who = sp.k("ana")
    assert sp.ok("grant", who, "profiles:view", "profiles:edit", "segments:edit") is not None
    assert sp.ok("revoke", who, "segments:edit") is not None
    line = sp.fails(2, "grant", who, "profiles:view", "profiles:delete")
    assert "profiles:delete" in line


# help texts tell the truth --------------------------------------------------------------------------------------------


def _help(sp: Driver, *path: str) -> str:
    result = sp.run(*path, "--help", env={"COLUMNS": "200"})
    assert result.exit_code == 0
    return re.sub(r"\s+", " ", result.stdout)


def test_lifecycle_help_texts(sp: Driver) -> None:
    assert "active" in _help(sp, "segment", "list") and "archived" in _help(sp, "segment", "list")
    assert "--yes" in _help(sp, "segment", "delete")
    assert "--grace" in _help(sp, "classify") and "14" in _help(sp, "classify")
    assert "--dry-run" in _help(sp, "apply")


# §1: every command that touches the database migrates it first, safely in parallel ------------------------------------


def test_a_fresh_database_is_migrated_by_any_command_even_concurrently(sp: Driver, server_url: str) -> None:
    import os
    import subprocess
    import sys
    import uuid

    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    name = f"segpipe_fresh_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        env = {**os.environ, "SEGPIPE_DATABASE_URL": url, "SEGPIPE_ORCHESTRATION": "direct"}
        command = [sys.executable, "-m", "segpipe.cli.main", "segment", "list", "--json"]
        runs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(3)]
        for run in runs:
            out, err = run.communicate(timeout=120)
            assert run.returncode == 0, err
            assert json.loads(out) == []
        assert sp.ok("segment", "list", env={"SEGPIPE_DATABASE_URL": url}) == []
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def test_segment_show_text_has_definition_status_members_refresh_usage_and_trend(sp: Driver) -> None:
    sp.ok(
        "load", "profiles", sp.file("p.jsonl", json.dumps({"external_id": sp.k("u1"), "attributes": {"tier": "gold"}}))
    )
    rules = {
        "all": [
            {"attribute": "external_id", "op": "starts_with", "value": sp.tag},
            {"attribute": "tier", "op": "eq", "value": "gold"},
        ]
    }
    a, camp = sp.k("a"), sp.k("camp")
    sp.apply(seg(a, sp.k("Gold"), rules=rules), campaign(camp, "scheduled", include=[a]))
    sp.ok("refresh", a)
    text = _help_free_show(sp, a)
    for expected in (sp.k("Gold"), "active", "tier", "gold", "members: 1", "last refresh", camp, "trend", sp.k("u1")):
        assert expected in text, expected


def _help_free_show(sp: Driver, key: str) -> str:
    result = sp.run("segment", "show", key, env={"COLUMNS": "200"})
    assert result.exit_code == 0
    return result.stdout
