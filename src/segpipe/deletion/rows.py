"""The rows of a profile: which tables hold them (derived from the schema) and what a deletion does with each.

Every table of `segpipe.db.schema` with a `profile_id` column holds rows of a profile; `HANDLING` says what a
deletion does with them, and importing this module fails when a table with `profile_id` has no entry, so a
new linked table cannot be forgotten (tests/deletion/test_linked_tables.py also checks the migrated database).

Each statement of a batch filters `profile_id = ANY(ids)` with the batch's sorted ids as one bound bigint
array: the planner knows how many ids there are and walks the profile_id indexes, touching only the batch's
rows (a join through the manifest table got plans that scanned all events in every batch; BENCHMARKS.md).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection

from segpipe.db import schema as t
from segpipe.deletion.audit import salted_hash


class Handling(enum.Enum):
    DELETE = "delete"
    """The rows are deleted with the profile."""
    ANONYMIZE = "anonymize"
    """The rows stay with `profile_id` set to NULL (message activity: campaign statistics must not change)."""
    KEEP = "keep"
    """The deletion's own record of which profile ids it deletes (ids only, no personal data)."""


HANDLING: dict[str, Handling] = {
    t.profiles.name: Handling.DELETE,
    t.events.name: Handling.DELETE,
    t.event_ids.name: Handling.DELETE,
    t.subscriptions.name: Handling.DELETE,
    t.memberships.name: Handling.DELETE,
    t.snapshot_members.name: Handling.DELETE,
    t.activity.name: Handling.ANONYMIZE,
    t.deletion_manifest.name: Handling.KEEP,
}
"""What a deletion does with each table holding rows of a profile (the one list; see the module doc)."""


def profile_tables(metadata: sa.MetaData = t.metadata) -> list[sa.Table]:
    """`profiles` and every table with a `profile_id` column: the tables holding rows of a profile."""
    return [table for table in metadata.sorted_tables if table is t.profiles or "profile_id" in table.c]


def unhandled_tables(metadata: sa.MetaData = t.metadata) -> list[str]:
    """Tables holding rows of a profile that `HANDLING` does not cover (must be none)."""
    return [table.name for table in profile_tables(metadata) if table.name not in HANDLING]


if unhandled := unhandled_tables():
    raise RuntimeError(f"deletion does not say what to do with the profile rows of {', '.join(unhandled)}")

LINKED_TABLES = tuple(
    sorted(
        (table for table in profile_tables() if HANDLING[table.name] is not Handling.KEEP),
        key=lambda table: table is not t.events,
    )
)
"""Every table whose rows of a profile a deletion removes or anonymizes; events first (the largest: verification
probes the tables in parallel)."""
DELETED_TABLES = tuple(table.name for table in LINKED_TABLES if HANDLING[table.name] is Handling.DELETE)
ANONYMIZED_TABLES = tuple(table.name for table in LINKED_TABLES if HANDLING[table.name] is Handling.ANONYMIZE)
# Deleted by profile_id, after the profiles themselves; memberships also correct segment counts.
_BY_PROFILE = tuple(
    table for table in LINKED_TABLES if table.name in DELETED_TABLES and table not in (t.profiles, t.memberships)
)


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
    after = {int(sid): count for sid, count in corrected}
    return [{"segment_id": sid, "removed": n, "member_count": after.get(sid)} for sid, n in sorted(counts.items())]


def linked(table: sa.Table) -> sa.ColumnElement[Any]:
    return table.c.id if table is t.profiles else table.c.profile_id


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
    query = sa.select(sa.func.count()).select_from(table).where(linked(table) == sa.any_(ids))
    return int(conn.execute(query).scalar_one())
