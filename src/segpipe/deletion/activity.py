"""Message activity across a deletion: counted at gate time, recounted at verification, must be unchanged.

The baseline covers the campaigns the manifest's profiles have activity in, and only rows that existed at
gate time (`id <= max_id`), so activity loaded while the deletion runs does not count as a change. Rows are
never deleted, only anonymized, so every count must come out exactly equal.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from segpipe.db import schema as t

_a, _m = t.activity, t.deletion_manifest


def _manifest_campaigns(conn: Connection, job_id: uuid.UUID) -> dict[str, int]:
    """The manifest profiles' activity rows per campaign."""
    query = (
        sa.select(_a.c.campaign, sa.func.count())
        .join(_m, _m.c.profile_id == _a.c.profile_id)
        .where(_m.c.job_id == job_id)
        .group_by(_a.c.campaign)
    )
    return {campaign: int(n) for campaign, n in conn.execute(query)}


def _counts(conn: Connection, campaigns: list[str], max_id: int) -> dict[str, int]:
    if not campaigns:
        return {}
    query = (
        sa.select(_a.c.campaign, _a.c.kind, sa.func.count())
        .where(_a.c.campaign.in_(campaigns), _a.c.id <= max_id)
        .group_by(_a.c.campaign, _a.c.kind)
    )
    return {f"{campaign}\x1f{kind}": int(n) for campaign, kind, n in conn.execute(query)}


def take_baseline(conn: Connection, job_id: uuid.UUID) -> dict[str, Any]:
    """Counts per (campaign, kind) of the affected campaigns, as stored in the job at gate time."""
    max_id = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(_a.c.id), 0))).scalar_one())
    per_campaign = _manifest_campaigns(conn, job_id)
    campaigns = sorted(per_campaign)
    counts = _counts(conn, campaigns, max_id)
    return {
        "max_id": max_id,
        "campaigns": campaigns,
        "manifest_rows": sum(per_campaign.values()),
        "counts": [
            {"campaign": k.split("\x1f")[0], "kind": k.split("\x1f")[1], "count": n} for k, n in sorted(counts.items())
        ],
    }


def compare_to_baseline(conn: Connection, baseline: dict[str, Any]) -> list[dict[str, Any]]:
    """The (campaign, kind) pairs whose count changed since the baseline; empty when all are equal."""
    before = {f"{c['campaign']}\x1f{c['kind']}": int(c["count"]) for c in baseline.get("counts", [])}
    now = _counts(conn, list(baseline.get("campaigns", [])), int(baseline.get("max_id", 0)))
    changed = []
    for key in sorted(before.keys() | now.keys()):
        if before.get(key, 0) != now.get(key, 0):
            campaign, kind = key.split("\x1f")
            changed.append({"campaign": campaign, "kind": kind, "before": before.get(key, 0), "after": now.get(key, 0)})
    return changed
