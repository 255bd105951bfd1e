"""`segpipe apply` through the CLI: created / updated / unchanged, idempotency, dry runs, JSON and YAML."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segpipe.db import schema as t
from tests.apply.helpers import actions, output_json, segment, snapshot, write

SEGMENTS = """
kind: Segment
key: high-value-de
name: High value customers (DE)
description: optional text
rules:
  all:
    - {attribute: country, op: eq, value: DE}
    - {event: purchase, aggregate: sum, property: amount, op: gte, value: 500, within: {days: 90}}
    - {not: {segment: churned}}
    - {subscription: email, status: subscribed}
---
kind: Segment
key: churned
name: Churned
rules: {event: login, op: eq, value: 0, within: {days: 180}}
"""

CAMPAIGN = """
kind: Campaign
key: black-friday
name: Black Friday
channel: email
status: draft
include: [high-value-de]
exclude: [churned]
"""


def test_create_then_unchanged_then_update(cli, engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "objs"
    write(folder, "segments.yaml", SEGMENTS)
    write(folder, "campaigns.yaml", CAMPAIGN)

    first = cli("apply", folder, "--json")
    assert first.exit_code == 0, first.output
    assert set(actions(first).values()) == {"created"}
    assert output_json(first)["applied"] is True
    stored = segment(engine, "high-value-de")
    assert stored["rules"]["all"][0] == {"attribute": "country", "op": "eq", "value": "DE"}
    assert stored["description"] == "optional text" and stored["status"] == "active"

    before = snapshot(engine)
    second = cli("apply", folder, "--json")
    assert second.exit_code == 0
    assert set(actions(second).values()) == {"unchanged"}
    assert snapshot(engine) == before

    write(folder, "segments.yaml", SEGMENTS.replace("value: 500", "value: 600").replace("Churned", "Churned users"))
    third = cli("apply", folder, "--json")
    objects = {obj["key"]: obj for obj in output_json(third)["objects"]}
    assert objects["high-value-de"]["action"] == "updated" and objects["high-value-de"]["changes"] == ["rules"]
    assert objects["churned"]["changes"] == ["name"]
    assert objects["black-friday"]["action"] == "unchanged"
    updated = segment(engine, "high-value-de")
    assert updated["definition_changed_at"] > stored["definition_changed_at"]
    assert updated["updated_at"] > stored["updated_at"] and updated["created_at"] == stored["created_at"]
    renamed = segment(engine, "churned")
    assert renamed["name"] == "Churned users"
    assert renamed["definition_changed_at"] == renamed["created_at"]


def test_equivalent_rules_rewrite_keeps_definition_time(cli, engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "s.yaml", "kind: Segment\nkey: buyers\nname: Buyers\nrules: {event: purchase}\n")
    assert cli("apply", path).exit_code == 0
    before = segment(engine, "buyers")
    path.write_text("kind: Segment\nkey: buyers\nname: Buyers\nrules: {event: purchase, op: gte, value: 1}\n")
    result = cli("apply", path, "--json")
    assert actions(result) == {("Segment", "buyers"): "updated"}
    after = segment(engine, "buyers")
    assert after["rules"] == {"event": "purchase", "op": "gte", "value": 1}
    assert after["definition_changed_at"] == before["definition_changed_at"]


def test_boolean_and_number_values_are_different_specs(cli, engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "s.json", json.dumps({"kind": "Segment", "key": "flag-one", "name": "Flag one",
                                                 "rules": {"attribute": "vip", "op": "eq", "value": 1}}))  # fmt: skip
    assert cli("apply", path).exit_code == 0
    path.write_text(path.read_text().replace('"value": 1', '"value": true'))
    assert actions(cli("apply", path, "--json")) == {("Segment", "flag-one"): "updated"}
    assert segment(engine, "flag-one")["rules"]["value"] is True


def test_dry_run_prints_the_plan_and_writes_nothing(cli, engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "new.yaml", "kind: Segment\nkey: dry-one\nname: Dry one\nrules: {event: x}\n")
    before = snapshot(engine)
    result = cli("apply", path, "--dry-run")
    assert result.exit_code == 0
    assert "+ Segment dry-one  would create" in result.stdout and "dry run: nothing written" in result.stdout
    as_json = output_json(cli("apply", path, "--dry-run", "--json"))
    assert as_json["dry_run"] is True and as_json["applied"] is False
    [obj] = as_json["objects"]
    assert obj.pop("members")["count"] == 0
    assert obj == {"kind": "Segment", "key": "dry-one", "action": "created", "source": f"{path}#1"}
    assert snapshot(engine) == before


def test_json_file_with_a_list_of_objects(cli, engine: Engine, tmp_path: Path) -> None:
    docs = [
        {
            "kind": "Segment",
            "key": "j-one",
            "name": "J one",
            "rules": {"attribute": "country", "op": "eq", "value": "NO"},
        },
        {"kind": "Report", "key": "j-report", "segments": ["j-one"]},
    ]
    path = write(tmp_path, "objs.json", json.dumps(docs))
    result = cli("apply", path, "--json")
    assert actions(result) == {("Segment", "j-one"): "created", ("Report", "j-report"): "created"}
    with engine.connect() as conn:
        spec = conn.execute(sa.select(t.consumers.c.spec).where(t.consumers.c.key == "j-report")).scalar_one()
    assert spec["segments"] == ["j-one"] and spec["kind"] == "Report"


def test_yaml_keeps_norway_and_times_as_strings(cli, engine: Engine, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "s.yaml",
        """
        kind: Segment
        key: norway-recent
        name: Norway recent
        rules:
          all:
            - {attribute: country, op: eq, value: NO}
            - {attribute: signup, op: eq, value: 2026-03-01T00:00:00Z}
        """,
    )
    assert cli("apply", path).exit_code == 0
    rules = segment(engine, "norway-recent")["rules"]["all"]
    assert rules[0]["value"] == "NO" and rules[1]["value"] == "2026-03-01T00:00:00Z"


def test_name_swap_in_one_apply(cli, engine: Engine, tmp_path: Path) -> None:
    template = "kind: Segment\nkey: {key}\nname: {name}\nrules: {{event: x}}\n"
    path = tmp_path / "swap.yaml"
    path.write_text(template.format(key="swap-a", name="Alpha") + "---\n" + template.format(key="swap-b", name="Beta"))
    assert cli("apply", path).exit_code == 0
    path.write_text(template.format(key="swap-a", name="Beta") + "---\n" + template.format(key="swap-b", name="Alpha"))
    result = cli("apply", path, "--json")
    assert result.exit_code == 0, result.output
    assert segment(engine, "swap-a")["name"] == "Beta" and segment(engine, "swap-b")["name"] == "Alpha"


def test_stdin_reads_yaml(cli, engine: Engine) -> None:
    result = cli("apply", "-", "--json", input="kind: Segment\nkey: from-stdin\nname: From stdin\nrules: {event: x}\n")
    assert result.exit_code == 0, result.output
    assert output_json(result)["objects"][0]["source"] == "<stdin>#1"


def test_numbers_compare_by_value_after_a_jsonb_round_trip(cli, tmp_path: Path) -> None:
    text = "kind: Segment\nkey: big-spenders\nname: Big spenders\nrules: {attribute: spent, op: gte, value: 1.0e16}\n"
    path = write(tmp_path, "s.yaml", text)
    assert cli("apply", path).exit_code == 0
    assert actions(cli("apply", path, "--json")) == {("Segment", "big-spenders"): "unchanged"}
