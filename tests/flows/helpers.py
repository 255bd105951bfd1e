"""Test data through the real CLI (load + apply), and small readers."""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine

SEGMENTS = """
kind: Segment
key: de
name: Germany
rules: {attribute: country, op: eq, value: DE}
---
kind: Segment
key: fr
name: France
rules: {attribute: country, op: eq, value: FR}
---
kind: Segment
key: pro
name: Pro plan
rules: {attribute: plan, op: eq, value: pro}
---
kind: Segment
key: de-pro
name: German pros
rules: {all: [{segment: de}, {segment: pro}]}
---
kind: Campaign
key: bf
name: Black Friday
channel: email
status: scheduled
include: [de, fr]
exclude: [pro]
"""

# u01-u06 in DE, u07-u10 in FR; u01-u03 on the pro plan; u04 unsubscribed from email; u05 unsubscribed, then
# subscribed again (the latest record wins).
AUDIENCE = {"u05", "u06", "u07", "u08", "u09", "u10"}


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def seed(cli: Callable[..., Any], folder: Path) -> None:
    profiles = [
        {
            "external_id": f"u{i:02d}",
            "email": f"u{i:02d}@example.com",
            "attributes": {"country": "DE" if i <= 6 else "FR", **({"plan": "pro"} if i <= 3 else {})},
        }
        for i in range(1, 11)
    ]
    subscriptions = [
        {"external_id": "u04", "channel": "email", "status": "unsubscribed", "updated_at": "2026-01-01T00:00:00Z"},
        {"external_id": "u05", "channel": "email", "status": "unsubscribed", "updated_at": "2026-01-01T00:00:00Z"},
        {"external_id": "u05", "channel": "email", "status": "subscribed", "updated_at": "2026-01-02T00:00:00Z"},
    ]
    for kind, rows in (("profiles", profiles), ("subscriptions", subscriptions)):
        result = cli("load", kind, str(write_jsonl(folder / f"{kind}.jsonl", rows)))
        assert result.exit_code == 0, result.output
    path = folder / "objects.yaml"
    path.write_text(textwrap.dedent(SEGMENTS).lstrip())
    result = cli("apply", str(path))
    assert result.exit_code == 0, result.output


def last_json(result: Any) -> Any:
    return json.loads(result.stdout.strip().splitlines()[-1])


def snapshot_members(engine: Engine, snapshot_id: int) -> set[str]:
    query = sa.text(
        "SELECT p.external_id FROM segpipe.snapshot_members m JOIN segpipe.profiles p ON p.id = m.profile_id"
        " WHERE m.snapshot_id = :s"
    )
    with engine.connect() as conn:
        return set(conn.execute(query, {"s": snapshot_id}).scalars())


def snapshot_row(engine: Engine, snapshot_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM segpipe.audience_snapshots WHERE id = :s"), {"s": snapshot_id})
        return dict(row.mappings().one())


def api(server: Any, method: str, path: str, **kwargs: Any) -> Any:
    response = httpx.request(method, f"{server.api_url}{path}", timeout=30, **kwargs)
    response.raise_for_status()
    return response.json() if response.content else None


def task_runs(server: Any, flow_run_id: str) -> list[dict[str, Any]]:
    return api(server, "POST", "/task_runs/filter", json={"flow_runs": {"id": {"any_": [flow_run_id]}}})


def wait_for(predicate: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
