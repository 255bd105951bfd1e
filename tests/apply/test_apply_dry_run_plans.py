"""`apply --dry-run` plans through the CLI: would-words, diffs, exact member counts as of now, all faults at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.apply.helpers import output_json, snapshot, write

SEGMENTS = """
kind: Segment
key: de
name: Germany
rules: {attribute: country, op: eq, value: DE}
---
kind: Segment
key: de-buyers
name: German buyers
rules: {all: [{segment: de}, {event: purchase}]}
---
kind: Campaign
key: spring
status: draft
include: [de]
"""


@pytest.fixture()
def stored(cli, engine: Engine, tmp_path: Path) -> Path:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "TRUNCATE segpipe.profiles, segpipe.events, segpipe.segments, segpipe.memberships,"
                " segpipe.consumers, segpipe.refresh_runs CASCADE"
            )
        )
    profiles = tmp_path / "profiles.jsonl"
    rows = [{"external_id": f"p{i}", "attributes": {"country": "DE" if i < 3 else "FR"}} for i in range(5)]
    profiles.write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert cli("load", "profiles", profiles).exit_code == 0
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps({"external_id": "p0", "event": "purchase", "occurred_at": "2026-01-01T00:00:00Z"}))
    assert cli("load", "events", events).exit_code == 0
    path = write(tmp_path, "objects.yaml", SEGMENTS)
    assert cli("apply", path).exit_code == 0
    assert cli("refresh", "--all").exit_code == 0
    return path


def test_dry_run_shows_would_words_diffs_and_member_counts(cli, engine: Engine, stored: Path, tmp_path) -> None:
    changed = stored.read_text().replace("value: DE", "value: FR").replace("status: draft", "status: sent")
    path = write(
        tmp_path,
        "changed.yaml",
        changed + "---\nkind: Segment\nkey: everyone\nrules: {attribute: country, op: exists}\n",
    )
    before = snapshot(engine)
    result = cli("apply", path, "--dry-run")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "~ Segment de  would update (rules)" in out and "+ Segment everyone  would create" in out
    assert "-  value: DE" in out and "+  value: FR" in out
    assert "-status: draft" in out and "+status: sent" in out
    assert "members now: 2 (stored 3, -1)" in out and "members now: 5 (no stored count)" in out
    assert "= Segment de-buyers  unchanged" in out
    data = output_json(cli("apply", path, "--dry-run", "--json"))
    objects = {obj["key"]: obj for obj in data["objects"]}
    assert objects["de"]["action"] == "updated" and objects["de"]["members"]["count"] == 2
    assert objects["de"]["members"]["stored"] == 3 and objects["de"]["members"]["change"] == -1
    assert objects["everyone"]["members"] == {**objects["everyone"]["members"], "count": 5, "stored": None}
    assert "+  value: FR" in objects["de"]["diff"] and "members" not in objects["de-buyers"]
    assert snapshot(engine) == before


def test_member_count_of_a_changed_segment_follows_changed_references(cli, stored: Path, tmp_path) -> None:
    text = (
        stored.read_text()
        .replace("value: DE", "value: FR")
        .replace("{event: purchase}", "{event: purchase, op: eq, value: 0}")
    )
    data = output_json(cli("apply", write(tmp_path, "refs.yaml", text), "--dry-run", "--json"))
    objects = {obj["key"]: obj for obj in data["objects"]}
    assert objects["de-buyers"]["members"]["count"] == 2  # FR profiles (p3, p4), neither bought


def test_every_fault_is_reported_with_its_path_and_the_valid_choices(cli, engine: Engine, stored, tmp_path) -> None:
    bad = """
    kind: Segment
    key: bad
    name: Bad
    rules:
      all:
        - {event: purchase, aggregate: total, property: amount}
        - {attribute: country, op: equals, value: DE}
    ---
    kind: Campaign
    key: c2
    status: finished
    chanel: email
    ---
    kind: Segment
    key: fine
    name: Fine
    rules: {event: x}
    """
    before = snapshot(engine)
    for extra in ((), ("--dry-run",)):
        result = cli("apply", write(tmp_path, "bad.yaml", bad), *extra)
        assert result.exit_code == 2
        assert "rules.all[0].aggregate: unknown aggregate 'total'; valid: count, sum, avg, min, max" in result.stdout
        assert "rules.all[1].op: unknown operator 'equals'; valid: eq, neq" in result.stdout
        assert "unknown field 'chanel'" in result.stdout and "status: must be" in result.stdout
    data = output_json(cli("apply", write(tmp_path, "bad.yaml", bad), "--dry-run", "--json"))
    faults = {obj["key"]: obj.get("faults", []) for obj in data["objects"]}
    assert len(faults["bad"]) == 2 and len(faults["c2"]) == 2 and faults["fine"] == []
    assert faults["bad"][0].startswith("rules.all[0].aggregate")
    assert snapshot(engine) == before
