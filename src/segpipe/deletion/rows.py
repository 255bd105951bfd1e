"""The SQL of one batch: every row of a set of profiles, deleted or anonymized, in the caller's transaction.

Each statement filters `profile_id = ANY(ids)` with the batch's sorted ids as one bound bigint array: the
planner knows how many ids there are and walks the profile_id indexes, touching only the batch's rows
(a join through the manifest table got plans that scanned all events in every batch; BENCHMARKS.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection

from segpipe.db import schema as t
from segpipe.deletion.audit import salted_hash

# Deleted by profile_id, in this order, after the profiles themselves (see delete_profile_rows).
_BY_PROFILE = (t.events, t.event_ids, t.subscriptions, t.snapshot_members)


@dataclass(frozen=True)
class RowCounts:
    tables: dict[str, int]
    """Rows deleted per table; `activity` counts the rows anonymized (kept, unlinked)."""
    external_id_hashes: list[str] = field(default_factory=list)
    """Salted SHA-256 of the deleted profiles' external ids, sorted (the order says nothing)."""
    activity: list[dict[str, Any]] = field(default_factory=list)
    """Anonymized activity rows per campaign and kind."""
    segments: list[dict[str, Any]] = field(default_factory=list)
    """Memberships removed per segment, with the corrected member count."""


def ids_param(ids: list[int]) -> sa.ColumnElement[Any]:
    return sa.cast(sa.bindparam("ids", ids, type_=ARRAY(sa.BigInteger)), ARRAY(sa.BigInteger))


def delete_profile_rows(conn: Connection, ids: list[int], salt: str) -> RowCounts:
    """Delete the profiles first (their row locks make a concurrent upsert of the same external id wait, then
    create a new profile), then everything linked to them; activity is kept with the link removed."""
    hashes = _delete_profiles(conn, ids, salt)
    tables = {"profiles": len(hashes)}
    for table in _BY_PROFILE:
        tables[table.name] = _delete_by_profile(conn, table, ids)
    segments = _delete_memberships(conn, ids)
    tables["memberships"] = sum(s["removed"] for s in segments)
    activity = _anonymize_activity(conn, ids)
    tables["activity"] = sum(a["count"] for a in activity)
    return RowCounts(tables, hashes, activity, segments)


def _delete_profiles(conn: Connection, ids: list[int], salt: str) -> list[str]:
    p = t.profiles
    deleted = sa.delete(p).where(p.c.id == sa.any_(ids_param(ids))).returning(p.c.external_id).cte("deleted")
    hashed = salted_hash(salt, deleted.c.external_id).label("hashed")
    return list(conn.execute(sa.select(hashed).order_by(hashed)).scalars())


def _delete_by_profile(conn: Connection, table: sa.Table, ids: list[int]) -> int:
    result = conn.execute(sa.delete(table).where(table.c.profile_id == sa.any_(ids_param(ids))))
    return int(result.rowcount)


def _anonymize_activity(conn: Connection, ids: list[int]) -> list[dict[str, Any]]:
    a = t.activity
    changed = (
        sa.update(a)
        .where(a.c.profile_id == sa.any_(ids_param(ids)))
        .values(profile_id=None, anonymized_at=sa.func.now())
        .returning(a.c.campaign, a.c.kind)
        .cte("anonymized")
    )
    query = (
        sa.select(changed.c.campaign, changed.c.kind, sa.func.count())
        .group_by(changed.c.campaign, changed.c.kind)
        .order_by(changed.c.campaign, changed.c.kind)
    )
    return [{"campaign": c, "kind": k, "count": int(n)} for c, k, n in conn.execute(query)]


def _delete_memberships(conn: Connection, ids: list[int]) -> list[dict[str, Any]]:
    """Remove the profiles from every segment; correct each affected segment's member count, with a trend
    point of source `deletion`."""
    m, s = t.memberships, t.segments
    removed = sa.delete(m).where(m.c.profile_id == sa.any_(ids_param(ids))).returning(m.c.segment_id).cte("removed")
    per_segment = sa.select(removed.c.segment_id, sa.func.count()).group_by(removed.c.segment_id)
    counts = {int(segment_id): int(n) for segment_id, n in conn.execute(per_segment)}
    if not counts:
        return []
    delta = sa.values(sa.column("segment_id", sa.BigInteger), sa.column("n", sa.BigInteger), name="delta").data(
        sorted(counts.items())
    )
    corrected = conn.execute(
        sa.update(s)
        .where(s.c.id == delta.c.segment_id, s.c.member_count.is_not(None))
        .values(member_count=sa.func.greatest(s.c.member_count - delta.c.n, 0))
        .returning(s.c.id, s.c.member_count)
    ).all()
    if corrected:
        points = [{"segment_id": sid, "member_count": count, "source": "deletion"} for sid, count in corrected]
        conn.execute(sa.insert(t.segment_counts).values(points))
    after = dict(corrected)
    return [{"segment_id": sid, "removed": n, "member_count": after.get(sid)} for sid, n in sorted(counts.items())]


def _linked(table: sa.Table) -> sa.ColumnElement[Any]:
    return table.c.id if table is t.profiles else table.c.profile_id


LINKED_TABLES = (t.events, t.profiles, t.event_ids, t.subscriptions, t.memberships, t.snapshot_members, t.activity)
"""Every table with rows of a profile; the largest first (verification probes them in parallel)."""


def remaining_in_batches(conn: Connection, table: sa.Table, job_id: Any, first: int, last: int) -> int:
    """Rows of `table` still linked to a profile of these manifest batches (zero after a deletion).

    The table is probed through its profile_id index with the batches' ids as one array built in Postgres;
    the caller disables plain index scans so the probe is a bitmap scan, visiting each heap page once, in
    page order. Its cost follows the rows deleted, not the size of the table (a hashed pass over all events
    would read a billion rows to check a few thousand)."""
    m = t.deletion_manifest
    in_batches = m.c.job_id == job_id, m.c.batch_no.between(first, last)
    batches = sa.select(sa.func.array_agg(m.c.profile_id)).where(*in_batches)
    ids = sa.cast(batches.scalar_subquery(), ARRAY(sa.BigInteger))
    query = sa.select(sa.func.count()).select_from(table).where(_linked(table) == sa.any_(ids))
    return int(conn.execute(query).scalar_one())
