"""Test data in plain SQL and snapshots of every table a deletion may touch."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segpipe.db import schema as t

SEGMENTS_YAML = """
kind: Segment
key: de
name: German customers
rules: {attribute: country, op: eq, value: DE}
---
kind: Segment
key: buyers
name: Buyers
rules: {event: purchase}
---
kind: Segment
key: de-buyers
name: German buyers
rules: {all: [{segment: de}, {segment: buyers}]}
"""

CUSTOMER_TABLES = (
    t.profiles,
    t.events,
    t.event_ids,
    t.subscriptions,
    t.activity,
    t.memberships,
    t.snapshot_members,
)


def external_ids(n: int) -> list[str]:
    return [f"u{i:02d}" for i in range(1, n + 1)]


def seed_world(engine: Engine, n: int = 20, german: int = 6) -> None:
    """n profiles; the first `german` live in DE. Each has 3 purchases (with event ids), an email
    unsubscription, sent+open activity for campaign bf; a ready audience snapshot holds everyone."""
    with engine.begin() as conn:
        for i, external_id in enumerate(external_ids(n), start=1):
            attributes = {"country": "DE" if i <= german else "FR"}
            add_profile(conn, external_id, attributes, events=3, activity=("sent", "open"), unsubscribed=True)
        snapshots = t.audience_snapshots
        snapshot = conn.execute(
            sa.insert(snapshots)
            .values(campaign_key="bf", as_of=sa.func.now(), member_count=n, status="pending")
            .returning(snapshots.c.id)
        ).scalar_one()
        conn.execute(
            sa.insert(t.snapshot_members).from_select(
                ["snapshot_id", "profile_id"], sa.select(sa.literal(snapshot), t.profiles.c.id)
            )
        )
        conn.execute(sa.update(snapshots).where(snapshots.c.id == snapshot).values(status="ready"))
        conn.execute(sa.select(t.data_version.next_value()))


def add_profile(
    conn: Any,
    external_id: str,
    attributes: dict[str, Any],
    *,
    events: int = 0,
    activity: tuple[str, ...] = (),
    unsubscribed: bool = False,
) -> int:
    profile_id = conn.execute(
        sa.insert(t.profiles)
        .values(external_id=external_id, email=f"{external_id}@example.com", attributes=attributes)
        .returning(t.profiles.c.id)
    ).scalar_one()
    for k in range(events):
        event_id = f"{external_id}-e{k}"
        conn.execute(
            sa.insert(t.events).values(
                profile_id=profile_id,
                name="purchase",
                occurred_at=sa.func.now() - sa.text(f"interval '{k + 1} days'"),
                properties={"amount": k},
                event_id=event_id,
            )
        )
        conn.execute(sa.insert(t.event_ids).values(event_id=event_id, profile_id=profile_id))
    for kind in activity:
        conn.execute(
            sa.insert(t.activity).values(profile_id=profile_id, campaign="bf", kind=kind, occurred_at=sa.func.now())
        )
    if unsubscribed:
        conn.execute(
            sa.insert(t.subscriptions).values(
                profile_id=profile_id, channel="email", status="unsubscribed", updated_at=sa.func.now()
            )
        )
    return profile_id


def snapshot(engine: Engine) -> dict[str, list[str]]:
    """Every row of every customer table, in a stable order: equal snapshots mean nothing changed."""
    with engine.connect() as conn:
        return {
            table.name: sorted(
                json.dumps(dict(row._mapping), default=str, sort_keys=True) for row in conn.execute(sa.select(table))
            )
            for table in CUSTOMER_TABLES
        }


def profile_ids(engine: Engine, ids: list[str]) -> dict[str, int]:
    with engine.connect() as conn:
        query = sa.select(t.profiles.c.external_id, t.profiles.c.id).where(t.profiles.c.external_id.in_(ids))
        return dict(conn.execute(query).tuples().all())


def rows_of(engine: Engine, profile_ids_: list[int]) -> dict[str, int]:
    """Rows linked to these profile ids, per table."""
    counts = {}
    with engine.connect() as conn:
        for table in CUSTOMER_TABLES:
            column = table.c.id if table is t.profiles else table.c.profile_id
            counts[table.name] = conn.execute(
                sa.select(sa.func.count()).select_from(table).where(column.in_(profile_ids_))
            ).scalar_one()
    return counts


def output_json(result: Any) -> dict[str, Any]:
    return json.loads(result.stdout.strip().splitlines()[-1])


def delete_args(*extra: str, key: str = "de", name: str = "German customers", expect: int = 6) -> list[str]:
    return ["delete-profiles", key, "--confirm", name, "--expect", str(expect), "--actor", "alice", *extra]
