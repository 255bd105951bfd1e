"""What `/campaigns/{key}` shows: the campaign, its audience segments, its latest snapshots with their check
results, and its message-activity counts (`segpipe campaign stats`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from segpipe.db import schema as t
from segpipe.errors import NotFound
from segpipe.lifecycle.usage import UsageIndex, consumer_usage, load_usage
from segpipe.load.stats import campaign_stats
from segpipe.store.objects import ConsumerRow

SNAPSHOTS = 10


@dataclass(frozen=True)
class CampaignPage:
    campaign: ConsumerRow
    live: bool
    segments: list[dict[str, Any]]
    """Audience segments (include, exclude) and the segments they reference, nearest first."""
    snapshots: list[dict[str, Any]]
    activity: dict[str, int]


def campaign_page(conn: Connection, key: str, index: UsageIndex | None = None) -> CampaignPage:
    """The page's data (`index`: the usage to use, default read now); an unknown key is NotFound (the 404 page)."""
    index = index or load_usage(conn)
    campaign = index.consumers.get(("campaign", key))
    if campaign is None:
        raise NotFound(f"unknown campaign '{key}'")
    usage = consumer_usage(index, "campaign", key)
    return CampaignPage(
        campaign=campaign,
        live=usage["live"],
        segments=usage["segments"],
        snapshots=latest_snapshots(conn, key),
        activity=campaign_stats(conn, key),
    )


def latest_snapshots(conn: Connection, key: str, limit: int = SNAPSHOTS) -> list[dict[str, Any]]:
    """The campaign's latest audience snapshots, newest first (index audience_snapshots (campaign_key, id DESC))."""
    a = t.audience_snapshots
    query = (
        sa.select(
            a.c.id, a.c.status, a.c.channel, a.c.as_of, a.c.created_at, a.c.finished_at, a.c.member_count,
            a.c.checks, a.c.reason, a.c.flow_run_id, a.c.refresh_run_id,
        )
        .where(a.c.campaign_key == key)
        .order_by(a.c.id.desc())
        .limit(limit)
    )  # fmt: skip
    return [dict(row._mapping) for row in conn.execute(query)]
