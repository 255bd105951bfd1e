# ruff: noqa: E501  (SQL and table-driven rows read best on one line)
"""A few thousand profiles, segments and a campaign for the kill loops and races, seeded through the real CLI."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segpipe.db import schema as t
from segpipe.rules import compile_members, parse_rules

PROFILES = 3000
# Each round moves every profile to another country and plan, so a live segment loses all its members from one
# round to the next: the segments accept any drop (`guard: {max_drop: 1}`), the count gate is not under test here.
OBJECTS = """
kind: Segment
key: de
name: Germany
rules: {attribute: country, op: eq, value: DE}
guard: {max_drop: 1}
---
kind: Segment
key: big-spenders
name: Big spenders
rules: {event: purchase, aggregate: sum, property: amount, op: gte, value: 30, within: {days: 3650}}
guard: {max_drop: 1}
---
kind: Segment
key: pro
name: Pro plan
rules: {any: [{attribute: plan, op: eq, value: pro}, {attribute: plan, op: eq, value: gold}]}
guard: {max_drop: 1}
---
kind: Campaign
key: bf
name: Black Friday
channel: email
status: scheduled
include: [de, big-spenders]
exclude: [pro]
"""
Invoke = Callable[..., Any]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def profile_rows(round_no: int, n: int = PROFILES, prefix: str = "p") -> list[dict[str, Any]]:
    """Every profile gets new attributes each round (so a load changes all n rows)."""
    countries = ("DE", "FR", "IT")
    return [
        {
            "external_id": f"{prefix}{i:05d}",
            "email": f"{prefix}{i:05d}@example.com",
            "attributes": {"country": countries[(i + round_no) % 3], "plan": "pro" if i % 7 == round_no % 7 else "free", "round": round_no},
        }
        for i in range(n)
    ]  # fmt: skip


def event_rows(round_no: int, n: int = PROFILES) -> list[dict[str, Any]]:
    return [
        {
            "external_id": f"p{i:05d}",
            "event": "purchase",
            "occurred_at": f"2025-{1 + round_no % 12:02d}-{1 + i % 28:02d}T10:00:00Z",
            "properties": {"amount": (i * 7 + round_no) % 40},
            "event_id": f"r{round_no}-{i}",
        }
        for i in range(n)
    ]


def subscription_rows(round_no: int, n: int = PROFILES) -> list[dict[str, Any]]:
    status = ("subscribed", "unsubscribed")
    return [
        {"external_id": f"p{i:05d}", "channel": "email", "status": status[(i + round_no) % 2], "updated_at": f"2025-01-01T00:{round_no % 60:02d}:{i % 60:02d}Z"}
        for i in range(n)
    ]  # fmt: skip


def activity_rows(round_no: int, n: int = PROFILES) -> list[dict[str, Any]]:
    kinds = ("sent", "delivered", "open", "click")
    return [
        {"external_id": f"p{i:05d}", "campaign": f"c{round_no}", "kind": kinds[i % 4], "occurred_at": "2025-06-01T10:00:00Z"}
        for i in range(n)
    ]  # fmt: skip


ROWS = {"profiles": profile_rows, "events": event_rows, "subscriptions": subscription_rows, "activity": activity_rows}


def seed(invoke: Invoke, folder: Path) -> None:
    """Profiles, purchases, subscriptions, the segments and campaign; then one refresh-all."""
    for kind in ("profiles", "events", "subscriptions", "activity"):
        result = invoke("load", kind, str(write_jsonl(folder / f"seed-{kind}.jsonl", ROWS[kind](0))))
        assert result.exit_code == 0, result.output
    objects = folder / "objects.yaml"
    objects.write_text(textwrap.dedent(OBJECTS).lstrip())
    for args in (("apply", str(objects)), ("refresh", "--all")):
        result = invoke(*args)
        assert result.exit_code == 0, result.output


CONTENT = {
    "profiles": "SELECT external_id, email, created_at, attributes FROM segpipe.profiles",
    "events": "SELECT profile_id, name, occurred_at, properties, event_id FROM segpipe.events",
    "subscriptions": "SELECT profile_id, channel, status, updated_at FROM segpipe.subscriptions",
    "activity": "SELECT profile_id, campaign, kind, occurred_at, anonymized_at FROM segpipe.activity",
}


def content(engine: Engine) -> dict[str, str]:
    """md5 of the customer data (no ingestion timestamps): equal = the same data."""
    out = {}
    with engine.connect() as conn:
        for name, query in CONTENT.items():
            sql = f"SELECT count(*) || ':' || md5(coalesce(string_agg(r::text, E'\\n' ORDER BY r::text), '')) FROM ({query}) r"
            out[name] = conn.execute(sa.text(sql)).scalar_one()
    return out


def stored_members(conn: sa.Connection, key: str) -> set[int]:
    query = sa.select(t.memberships.c.profile_id).join(t.segments, t.segments.c.id == t.memberships.c.segment_id)
    return set(conn.execute(query.where(t.segments.c.key == key)).scalars())


def recompute(conn: sa.Connection, key: str) -> set[int] | None:
    """The segment's members recomputed now at the as_of of its last succeeded refresh (None: never refreshed)."""
    query = (
        sa.select(t.segments.c.rules, t.refresh_runs.c.as_of)
        .join(t.segment_refreshes, t.segment_refreshes.c.segment_id == t.segments.c.id)
        .join(t.refresh_runs, t.refresh_runs.c.id == t.segment_refreshes.c.run_id)
        .where(t.segments.c.key == key, t.segment_refreshes.c.status == "succeeded")
        .order_by(t.segment_refreshes.c.id.desc())
        .limit(1)
    )
    row = conn.execute(query).first()
    if row is None:
        return None
    return set(conn.execute(compile_members(parse_rules(row.rules), row.as_of, None)).scalars())


def segment_keys(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(t.segments.c.key).order_by(t.segments.c.key)).scalars())
