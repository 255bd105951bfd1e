"""The catalog tests' world: real commands (load, apply, refresh, presend) over a few profiles, then trend
history, a held refresh, a definition-history row, a flow-run id and activity, as segpipe's own writers leave them.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

HOSTILE_NAME = '<script>alert("x")</script> \'quoted\' & $x$ "name"'
HOSTILE_DESCRIPTION = "<img src=x onerror=alert(1)> <b>bold</b>"
FLOW_RUN_ID = "0b5e6d8c-6f0c-4a8e-9c1e-3d2f6a7b8c9d"
OBJECTS = f"""
kind: Segment
key: gold
name: Gold customers
description: Tier gold, any country.
rules: {{attribute: tier, op: eq, value: gold}}
---
kind: Segment
key: de
name: Customers in Germany
rules: {{attribute: country, op: eq, value: DE}}
---
kind: Segment
key: gold-de
name: Gold customers in Germany
rules:
  all:
    - {{segment: gold}}
    - {{segment: de}}
    - {{event: purchase, aggregate: sum, property: amount, op: gte, value: 100, within: {{days: 90}}}}
    - {{subscription: email, status: subscribed}}
---
kind: Segment
key: hostile
name: {json.dumps(HOSTILE_NAME)}
description: {json.dumps(HOSTILE_DESCRIPTION)}
rules: {{attribute: tier, op: in, value: [silver, bronze]}}
---
kind: Segment
key: old-promo
name: Old promo
rules: {{attribute: tier, op: exists}}
---
kind: Campaign
key: spring
name: Spring sale
channel: email
status: scheduled
include: [gold-de]
exclude: [hostile]
---
kind: Report
key: weekly
segments: [gold]
"""


def profiles() -> list[dict[str, Any]]:
    tiers = ("gold", "silver", "bronze")
    return [
        {
            "external_id": f"u{i:02d}",
            "email": f"u{i:02d}@example.com",
            "attributes": {"tier": tiers[i % 3], "country": "DE" if i % 2 else "FR"},
        }
        for i in range(1, 25)
    ]


def events() -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return [
        {"external_id": f"u{i:02d}", "event": "purchase", "occurred_at": (now - timedelta(days=3)).isoformat(),
         "properties": {"amount": 150}}
        for i in range(1, 25)
    ]  # fmt: skip


def activity() -> list[dict[str, Any]]:
    kinds = ("sent", "sent", "sent", "delivered", "delivered", "open")
    at = datetime(2026, 3, 1, tzinfo=UTC)
    return [
        {"external_id": f"u{i:02d}", "campaign": "spring", "kind": kind, "occurred_at": at.isoformat()}
        for i, kind in enumerate(kinds, start=1)
    ]


def _jsonl(folder: Path, name: str, rows: list[dict[str, Any]]) -> Path:
    path = folder / name
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def build(run: Callable[..., Any], engine: Engine, folder: Path) -> None:
    """Load, apply, refresh twice, presend, archive one segment; then the rows other writers leave behind."""
    for kind, rows in (("profiles", profiles()), ("events", events()), ("activity", activity())):
        run("load", kind, _jsonl(folder, f"{kind}.jsonl", rows))
    objects = folder / "objects.yaml"
    objects.write_text(textwrap.dedent(OBJECTS).lstrip())
    run("apply", objects)
    run("refresh", "--all")
    run("presend", "spring")
    run("segment", "archive", "old-promo")
    _history(engine)


ADD_POINT = "INSERT INTO segpipe.segment_counts (segment_id, at, member_count, source) VALUES (:s, :at, :n, 'refresh')"
ADD_RUN = (
    "INSERT INTO segpipe.refresh_runs (trigger, as_of, started_at, finished_at, flow_run_id)"
    " VALUES ('flow', now(), now(), now(), :f) RETURNING id"
)
ADD_HELD = (
    "INSERT INTO segpipe.segment_refreshes (run_id, segment_id, status, member_count, added, removed, started_at,"
    " finished_at, reason, mode) VALUES (:r, :s, 'held', 6, 0, 5, now(), now(), :reason, 'full')"
)
ADD_HISTORY = (
    "INSERT INTO segpipe.segment_definition_history (segment_key, segment_id, version, change, definition, changed_by)"
    " SELECT 'gold', :s, coalesce(max(version), 0) + 1, 'updated', :d, 'alice'"
    " FROM segpipe.segment_definition_history WHERE segment_key = 'gold'"
)


def _history(engine: Engine) -> None:
    """Trend points for `gold` over ten days, count corrections of `hostile` and `gold-de`, a held refresh of
    `de` in a flow run, a definition-history row."""
    with engine.begin() as conn:
        ids = dict(conn.execute(sa.text("SELECT key, id FROM segpipe.segments")).tuples().all())
        start = datetime.now(UTC) - timedelta(days=10)
        points = [{"s": ids["gold"], "at": start + timedelta(days=d), "n": 3 + d} for d in range(9)]
        conn.execute(sa.text(ADD_POINT), points)
        later = datetime.now(UTC) + timedelta(seconds=1)
        corrections = [{"s": ids["hostile"], "at": later, "n": 21}, {"s": ids["gold-de"], "at": later, "n": 0}]
        conn.execute(sa.text(ADD_POINT.replace("'refresh'", "'correction'")), corrections)
        run_id = conn.execute(sa.text(ADD_RUN), {"f": FLOW_RUN_ID}).scalar_one()
        reason = "would remove 5 of 6 members (max_drop 0.5)"
        conn.execute(sa.text(ADD_HELD), {"r": run_id, "s": ids["de"], "reason": reason})
        definition = {"name": "Gold", "rules": {"attribute": "tier", "op": "eq", "value": "gold"}}
        conn.execute(sa.text(ADD_HISTORY), {"s": ids["gold"], "d": json.dumps(definition)})
