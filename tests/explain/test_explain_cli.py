"""`segpipe segment explain` and `segpipe segment sql` through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.lifecycle.helpers import apply, load_profiles, run_json

SEGMENTS = """
kind: Segment
key: churned
name: Churned
rules: {not: {event: login, within: {days: 30}}}
---
kind: Segment
key: high-value-de
name: High value DE
rules:
  all:
    - {attribute: country, op: eq, value: DE}
    - {event: purchase, aggregate: sum, property: amount, op: gte, value: 500, within: {days: 90}}
    - {not: {segment: churned}}
    - {subscription: email, status: subscribed}
"""
AS_OF = "2026-03-01T00:00:00Z"


@pytest.fixture()
def loaded(cli, engine, tmp_path: Path):
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "TRUNCATE segpipe.profiles, segpipe.events, segpipe.subscriptions, segpipe.segments,"
                " segpipe.memberships, segpipe.consumers, segpipe.refresh_runs CASCADE"
            )
        )
    load_profiles(
        cli,
        tmp_path,
        [
            {"external_id": "c001", "attributes": {"country": "DE"}},
            {"external_id": "c002", "attributes": {"country": "DE"}},
        ],
    )
    events = [
        {
            "external_id": "c001",
            "event": "purchase",
            "occurred_at": "2026-02-01T00:00:00Z",
            "properties": {"amount": 430},
        },
        {
            "external_id": "c002",
            "event": "purchase",
            "occurred_at": "2026-02-01T00:00:00Z",
            "properties": {"amount": 600},
        },
        {
            "external_id": "c002",
            "event": "purchase",
            "occurred_at": "2025-01-01T00:00:00Z",
            "properties": {"amount": 9},
        },
        {"external_id": "c002", "event": "login", "occurred_at": "2026-02-20T00:00:00Z"},
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    assert cli("load", "events", path).exit_code == 0
    subs = tmp_path / "subs.jsonl"
    subs.write_text(
        json.dumps(
            {"external_id": "c002", "channel": "email", "status": "subscribed", "updated_at": "2026-01-05T00:00:00Z"}
        )
        + "\n"
    )
    assert cli("load", "subscriptions", subs).exit_code == 0
    apply(cli, tmp_path, SEGMENTS)
    assert cli("refresh", "--all", "--as-of", AS_OF).exit_code == 0


def leaves(node: dict) -> list[dict]:
    kids = node.get("children", [])
    return [node] if not kids else [leaf for kid in kids for leaf in leaves(kid)]


def test_explain_names_the_failing_rule_and_its_value(cli, loaded) -> None:
    result = cli("segment", "explain", "high-value-de", "c001", "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    assert "c001 is not a member of high-value-de" in result.stdout
    assert "event purchase: sum(amount) over 90 days = 430 (1 event), needs ≥ 500 → false" in result.stdout
    assert 'attribute country = "DE", needs = "DE" → true' in result.stdout
    assert "subscription email: no record (subscribed by default), needs subscribed → true" in result.stdout


def test_explain_json_agrees_with_check_and_shows_references(cli, loaded) -> None:
    for external_id, member in (("c001", False), ("c002", True)):
        data = run_json(cli, "segment", "explain", "high-value-de", external_id, "--as-of", AS_OF)
        check = run_json(cli, "segment", "check", "high-value-de", external_id, "--as-of", AS_OF)
        assert data["member"] is check["member"] is member
        assert data["tree"]["outcome"] is member
    data = run_json(cli, "segment", "explain", "high-value-de", "c002", "--as-of", AS_OF)
    ref = data["tree"]["children"][2]["children"][0]
    assert ref["kind"] == "segment" and ref["segment"] == "churned" and ref["outcome"] is False
    assert ref["stored_member"] is False and ref["children"][0]["kind"] == "not"
    c001 = run_json(cli, "segment", "explain", "high-value-de", "c001", "--as-of", AS_OF)
    assert c001["tree"]["children"][2]["children"][0]["stored_member"] is True
    found = {leaf["path"]: leaf for leaf in leaves(data["tree"])}
    assert found["rules.all[1]"]["observed"] == 600
    assert found["rules.all[3]"]["record"]["status"] == "subscribed"
    assert found["rules.all[3]"]["record"]["updated_at"].startswith("2026-01-05")


def test_explain_as_of_moves_the_window(cli, loaded) -> None:
    data = run_json(cli, "segment", "explain", "high-value-de", "c002", "--as-of", "2026-06-01T00:00:00Z")
    purchase = data["tree"]["children"][1]
    assert purchase["observed"] == 0 and purchase["outcome"] is False and data["member"] is False


def test_explain_unknown_profile_or_segment_is_exit_2(cli, loaded) -> None:
    assert cli("segment", "explain", "high-value-de", "nobody").exit_code == 2
    assert cli("segment", "explain", "no-such", "c001").exit_code == 2
    assert "unknown profile 'nobody'" in cli("segment", "explain", "high-value-de", "nobody").stderr


def test_sql_prints_the_literal_bound_query_that_runs(cli, loaded, engine) -> None:
    result = cli("segment", "sql", "high-value-de", "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.lstrip().startswith("SELECT") and "'purchase'" in text and "%(" not in text
    with engine.connect() as conn:
        ids = set(conn.execute(sa.text(text.strip().rstrip(";"))).scalars())
        expected = set(conn.execute(sa.text("SELECT id FROM segpipe.profiles WHERE external_id = 'c002'")).scalars())
    assert ids == expected
    data = run_json(cli, "segment", "sql", "high-value-de")
    assert data["key"] == "high-value-de" and data["sql"].startswith("SELECT")
    assert "literal" in cli("segment", "sql", "--help").stdout
    assert cli("segment", "sql", "no-such").exit_code == 2
