"""`apply --prune` through the CLI: removal of objects no longer in the files, protection, audit."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.apply.helpers import actions, output_json, snapshot, write

BASE = """
kind: Segment
key: buyers
name: Buyers
rules: {event: purchase}
---
kind: Segment
key: loyal
name: Loyal
rules: {all: [{segment: buyers}, {event: login}]}
---
kind: Segment
key: old
name: Old
rules: {event: x}
"""
CAMPAIGNS = """
kind: Campaign
key: spring
status: sent
include: [loyal]
---
kind: Campaign
key: summer
status: scheduled
include: [buyers]
---
kind: Message
key: spring-mail
segments: [loyal]
used_by: [spring]
---
kind: Message
key: summer-mail
used_by: [summer]
"""


@pytest.fixture()
def stored(cli, engine: Engine, tmp_path: Path) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "TRUNCATE segpipe.segments, segpipe.memberships, segpipe.consumers,"
                " segpipe.segment_deletions, segpipe.consumer_deletions CASCADE"
            )
        )
    assert cli("apply", write(tmp_path, "base.yaml", BASE), write(tmp_path, "campaigns.yaml", CAMPAIGNS)).exit_code == 0


def _without(text: str, key: str) -> str:
    docs = [doc for doc in text.split("---\n") if f"key: {key}\n" not in doc]
    return "---\n".join(docs)


def test_prune_removes_a_finished_campaign_and_then_its_segment(cli, engine: Engine, stored, tmp_path) -> None:
    campaigns = write(tmp_path, "c.yaml", _without(_without(CAMPAIGNS, "spring"), "spring-mail"))
    plan = cli("apply", campaigns, "--prune", "--dry-run")
    assert plan.exit_code == 0, plan.output
    assert "- Campaign spring  would remove" in plan.stdout and "- Message spring-mail  would remove" in plan.stdout
    assert "Segment" not in plan.stdout  # only the kinds in the files are pruned
    result = output_json(cli("apply", campaigns, "--prune", "--json"))
    assert actions_of(result) == {
        ("Campaign", "spring"): "removed",
        ("Message", "spring-mail"): "removed",
        ("Campaign", "summer"): "unchanged",
        ("Message", "summer-mail"): "unchanged",
    }
    assert result["summary"]["removed"] == 2
    segments = write(tmp_path, "s.yaml", _without(_without(BASE, "loyal"), "old"))
    result = output_json(cli("apply", segments, "--prune", "--json"))
    assert actions_of(result)[("Segment", "loyal")] == "removed"
    with engine.connect() as conn:
        keys = set(conn.execute(sa.text("SELECT key FROM segpipe.segments")).scalars())
        tombstones = conn.execute(
            sa.text("SELECT key, actor, reason FROM segpipe.segment_deletions ORDER BY key")
        ).all()
        gone = conn.execute(
            sa.text("SELECT kind, key, status, actor FROM segpipe.consumer_deletions ORDER BY key")
        ).all()
        me = conn.execute(sa.text("SELECT session_user")).scalar_one()
    assert keys == {"buyers"}
    assert tombstones == [("loyal", me, "pruned by apply"), ("old", me, "pruned by apply")]
    assert gone == [("campaign", "spring", "sent", me), ("message", "spring-mail", None, me)]
    history = output_json(cli("segment", "history", "loyal", "--json"))
    assert history["definitions"][0]["change"] == "deleted" and history["definitions"][0]["changed_by"] == me


def actions_of(data: dict) -> dict:
    return {(obj["kind"], obj["key"]): obj["action"] for obj in data["objects"]}


def test_prune_refuses_referenced_and_live_objects_and_applies_nothing(cli, engine: Engine, stored, tmp_path) -> None:
    before = snapshot(engine)
    segments = write(tmp_path, "s.yaml", "kind: Segment\nkey: newcomer\nrules: {event: signup}\n")
    result = cli("apply", segments, "--prune", "--json")
    assert result.exit_code == 3
    data = output_json(result)
    objects = {obj["key"]: obj for obj in data["objects"]}
    assert "still referenced by segment loyal (rules), campaign summer (include)" in objects["buyers"]["reason"]
    assert objects["buyers"]["gate"] == "referenced" and objects["old"]["action"] == "removed"
    assert "campaign spring (include), message spring-mail (uses)" in objects["loyal"]["reason"]
    campaigns = write(tmp_path, "c.yaml", _without(CAMPAIGNS, "summer"))
    result = cli("apply", campaigns, "--prune")
    assert result.exit_code == 3 and "campaign 'summer' is in live use" in result.stderr
    result = cli("apply", write(tmp_path, "m.yaml", _without(CAMPAIGNS, "spring")), "--prune", "--json")
    assert result.exit_code == 3
    assert "still attached to by message spring-mail" in output_json(result)["objects"][-1]["reason"]
    assert snapshot(engine) == before


def test_without_prune_nothing_is_removed(cli, engine: Engine, stored, tmp_path) -> None:
    before = snapshot(engine)
    result = cli("apply", write(tmp_path, "s.yaml", _without(BASE, "old")), "--json")
    assert result.exit_code == 0 and set(actions(result).values()) == {"unchanged"}
    assert snapshot(engine) == before
