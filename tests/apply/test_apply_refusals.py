"""Every refusal exits 2 through the CLI, names its fault, and leaves the database exactly as it was."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from tests.apply.helpers import output_json, snapshot, write

STORED = """
kind: Segment
key: base
name: Base
rules: {attribute: country, op: eq, value: DE}
---
kind: Segment
key: middle
name: Middle
rules: {segment: base}
"""

VALID = """
kind: Segment
key: innocent
name: Innocent
rules: {event: purchase}
"""


@pytest.fixture(scope="module", autouse=True)
def stored(db_url: str, settings, tmp_path_factory) -> None:
    from typer.testing import CliRunner

    from segpipe.cli.main import app

    path = write(tmp_path_factory.mktemp("stored"), "stored.yaml", STORED)
    env = {"SEGPIPE_DATABASE_URL": db_url, "SEGPIPE_HOME": str(settings.home)}
    result = CliRunner().invoke(app, ["apply", str(path)], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output


CASES = {
    "unknown-operator": (
        """
        kind: Segment
        key: high-value-de
        name: High value
        rules:
          all:
            - {attribute: country, op: eq, value: DE}
            - {attribute: plan, op: eq, value: gold}
            - {attribute: country, op: equals, value: DE}
        """,
        "bad.yaml#2 (Segment high-value-de): rules.all[2].op: unknown operator 'equals'",
    ),
    "self-reference": (
        "kind: Segment\nkey: selfish\nname: Selfish\nrules: {not: {segment: selfish}}\n",
        "reference cycle: selfish -> selfish",
    ),
    "cycle-in-run": (
        "kind: Segment\nkey: ping\nname: Ping\nrules: {segment: pong}\n---\n"
        "kind: Segment\nkey: pong\nname: Pong\nrules: {segment: ping}\n",
        "reference cycle: ping -> pong -> ping",
    ),
    "cycle-through-stored": (
        "kind: Segment\nkey: base\nname: Base\nrules: {segment: middle}\n",
        "reference cycle: base -> middle -> base",
    ),
    "unknown-segment-in-rules": (
        "kind: Segment\nkey: lonely\nname: Lonely\nrules: {all: [{event: x}, {not: {segment: churned}}]}\n",
        "rules.all[1].not.segment: unknown segment 'churned'",
    ),
    "unknown-segment-in-campaign": (
        "kind: Campaign\nkey: bf\nchannel: email\ninclude: [base, churned]\n",
        "bad.yaml#2 (Campaign bf): include[1]: unknown segment 'churned'",
    ),
    "unknown-campaign-of-test-list": (
        "kind: TestList\nkey: seeds\nsegment: base\ncampaign: nowhere\n",
        "campaign: unknown campaign 'nowhere'",
    ),
    "bad-key": ("kind: Segment\nkey: High_Value\nname: HV\nrules: {event: x}\n", "invalid segment key 'High_Value'"),
    "missing-key": ("kind: Segment\nname: HV\nrules: {event: x}\n", "missing required field 'key'"),
    "unknown-kind": ("kind: Audience\nkey: a\n", "bad.yaml#2: unknown kind 'Audience'"),
    "unknown-field": ("kind: Campaign\nkey: c\nchannel: email\nexlude: [base]\n", "unknown field 'exlude'"),
    "name-clash-with-stored": (
        "kind: Segment\nkey: other-base\nname: Base\nrules: {event: x}\n",
        "name 'Base' is already used by segment 'base'",
    ),
    "name-clash-in-run": (
        "kind: Segment\nkey: twin-a\nname: Twin\nrules: {event: x}\n---\n"
        "kind: Segment\nkey: twin-b\nname: Twin\nrules: {event: x}\n",
        "name 'Twin' is also used by Segment twin-a",
    ),
    "duplicate-key": (
        "kind: Report\nkey: r\n---\nkind: Report\nkey: r\nsegments: [base]\n",
        "duplicate Report key 'r'",
    ),
    "too-deep": (
        "kind: Segment\nkey: deep\nname: Deep\nrules: " + "{not: " * 32 + "{event: x}" + "}" * 32 + "\n",
        "more than 32 nodes on a root-to-leaf path",
    ),
    "invalid-yaml": ("kind: Segment\nkey: [oops\n", "invalid YAML"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_refusal_exits_2_and_writes_nothing(case: str, cli, engine: Engine, tmp_path: Path) -> None:
    body, message = CASES[case]
    path = write(tmp_path, "bad.yaml", VALID + "---\n" + textwrap.dedent(body).lstrip())
    before = snapshot(engine)
    for extra in ((), ("--dry-run",)):
        result = cli("apply", path, *extra)
        assert result.exit_code == 2, result.output
        error_lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert len(error_lines) == 1 and message in error_lines[0], result.stderr
        assert "refused" in result.stdout
    assert snapshot(engine) == before


def test_json_lists_which_documents_were_refused(cli, engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", VALID + "---\n" + CASES["cycle-in-run"][0])
    before = snapshot(engine)
    result = cli("apply", path, "--json")
    assert result.exit_code == 2
    data = output_json(result)
    assert data["applied"] is False and data["exit_code"] == 2
    assert data["error"].startswith(f"{path}#2 (Segment ping): reference cycle: ping -> pong -> ping")
    assert [(o["key"], o["action"], o.get("reason")) for o in data["objects"]] == [
        ("innocent", "created", None),
        ("ping", "refused", "reference cycle: ping -> pong -> ping"),
        ("pong", "refused", "reference cycle: ping -> pong -> ping"),
    ]
    assert snapshot(engine) == before


def test_missing_path_is_refused(cli, engine: Engine, tmp_path: Path) -> None:
    before = snapshot(engine)
    result = cli("apply", tmp_path / "nope.yaml", write(tmp_path, "ok.yaml", VALID))
    assert result.exit_code == 2
    assert "nope.yaml: no such file or folder" in result.stderr
    assert snapshot(engine) == before
