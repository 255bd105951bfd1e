"""Helpers of the lifecycle tests: apply documents and run commands through the real CLI."""

from __future__ import annotations

import json
import textwrap
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from segpipe.timeutil import parse_timestamp


def apply(cli, folder: Path, text: str) -> None:
    """`segpipe apply` a YAML text (asserts it succeeded)."""
    path = folder / f"objects-{uuid.uuid4().hex[:8]}.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    result = cli("apply", path)
    assert result.exit_code == 0, result.output


def segment_doc(key: str, rules: str = "{attribute: tier, op: eq, value: gold}", name: str | None = None) -> str:
    return f"kind: Segment\nkey: {key}\nname: {name or key.title()}\nrules: {rules}\n---\n"


def load_profiles(cli, folder: Path, rows: list[dict[str, Any]]) -> None:
    path = folder / f"profiles-{uuid.uuid4().hex[:8]}.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    result = cli("load", "profiles", path)
    assert result.exit_code == 0, result.output


def run_json(cli, *args: Any, code: int = 0, input: str | None = None) -> Any:
    """Run a command with --json, check its exit code, return the parsed stdout."""
    result = cli(*args, "--json", input=input)
    assert result.exit_code == code, (result.exit_code, result.output)
    return json.loads(result.stdout)


def show(cli, key: str) -> dict[str, Any]:
    return run_json(cli, "segment", "show", key)


def created_at(cli, key: str) -> datetime:
    return parse_timestamp(show(cli, key)["created_at"])


def iso(value: datetime) -> str:
    return value.isoformat()


def classify(cli, as_of: datetime, *extra: Any) -> dict[str, dict[str, Any]]:
    """`segpipe classify --as-of` → {key: row}."""
    return {row["key"]: row for row in run_json(cli, "classify", "--as-of", iso(as_of), *extra)}


def later(start: datetime, days: float) -> datetime:
    return start + timedelta(days=days)
