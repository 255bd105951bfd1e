"""Set-based merges of the appended kinds: events, subscription records, message activity.

Each is idempotent where the row has a key: a row already stored is not stored again (`already_known`), and
of the rows of one load that repeat each other only the first is stored; both count as `skipped_duplicates`
(every row not stored), so loading a file twice changes nothing. The key of an event is its optional
`event_id`; events without one are appended (contract §2).
Each merge is one INSERT whose CTEs also count what it skipped.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from segpipe.db.schema import activity, event_ids, events, profiles, subscriptions
from segpipe.load.merge import MergeCounts
from segpipe.load.resolve import resolve_profiles


def _jsonb(column: ColumnElement) -> ColumnElement:
    """A one-row source carries JSON as text, a staging table as jsonb: the cast serves both."""
    return sa.cast(column, JSONB)


def _with_profile(src: sa.FromClause) -> sa.Join:
    return sa.join(src, profiles, profiles.c.external_id == src.c.external_id)


def _count(cte: sa.CTE) -> sa.ScalarSelect:
    return sa.select(sa.func.count()).select_from(cte).scalar_subquery()


def _insert_counting(conn: Connection, insert: sa.Insert, firsts: sa.CTE, *ctes: sa.CTE) -> tuple[int, int]:
    """Run `insert` (as a CTE, with the others); returns (rows inserted, rows of `firsts`)."""
    inserted = insert.returning(sa.literal(1)).cte("inserted")
    found, made = conn.execute(sa.select(_count(firsts), _count(inserted)).add_cte(*ctes)).one()
    return int(made), int(found)


def _claim_event_ids(firsts: sa.CTE) -> tuple[sa.CTE, sa.CTE, sa.CTE]:
    """(fresh, retaken, claimed): record the new event ids; an id whose profile no longer exists (a stale row
    of a deletion from before loads locked their profiles) is taken over. Known ids are found by an anti-join
    first: ON CONFLICT alone would lock (and write) every conflicting row, which makes a reload 10x slower."""
    known, owner = event_ids.alias("known"), profiles.alias("owner")
    lookup = (
        sa.select(
            firsts.c.event_id, firsts.c.profile_id, known.c.profile_id.label("old_owner"), owner.c.id.label("alive")
        )
        .select_from(
            firsts.outerjoin(known, known.c.event_id == firsts.c.event_id).outerjoin(
                owner, owner.c.id == known.c.profile_id
            )
        )
        .cte("lookup")
    )
    new_ids = (
        sa.select(lookup.c.event_id, lookup.c.profile_id)
        .where(lookup.c.old_owner.is_(None))
        .order_by(lookup.c.event_id)
    )
    fresh = (
        pg_insert(event_ids)
        .from_select(["event_id", "profile_id"], new_ids)
        .on_conflict_do_nothing(index_elements=[event_ids.c.event_id])
        .returning(event_ids.c.event_id)
        .cte("fresh")
    )
    retaken = (
        event_ids.update()
        .where(
            event_ids.c.event_id == lookup.c.event_id,
            lookup.c.old_owner.is_not(None),  # filters the CTE scan: no index probe per new id
            event_ids.c.profile_id == lookup.c.old_owner,
            lookup.c.alive.is_(None),
        )
        .values(profile_id=lookup.c.profile_id)
        .returning(event_ids.c.event_id)
        .cte("retaken")
    )
    claimed = sa.union_all(sa.select(fresh.c.event_id), sa.select(retaken.c.event_id)).cte("claimed")
    return fresh, retaken, claimed


def merge_events(conn: Connection, src: sa.FromClause, staged: int) -> MergeCounts:
    """Append events; of the rows sharing an event_id only the first (in row order, across loads) is kept.
    Rows without an event_id are always appended (contract §2), so only files with event ids reload idempotently.

    Both branches read the staging table directly (no shared CTE): the planner then sees its statistics and
    picks hash joins for a large load and index lookups for a small one.
    """
    created = resolve_profiles(conn, src, create=True)
    s = src.c
    columns = [profiles.c.id.label("profile_id"), s.name, s.occurred_at, _jsonb(s.properties).label("properties")]
    firsts = (
        sa.select(*columns, s.event_id)
        .select_from(_with_profile(src))
        .where(s.event_id.is_not(None))
        .distinct(s.event_id)
        .order_by(s.event_id, s.row_no)
        .cte("firsts")
    )
    fresh, retaken, claimed = _claim_event_ids(firsts)
    names = ["profile_id", "name", "occurred_at", "properties", "event_id"]
    first_copies = sa.select(*(firsts.c[name] for name in names)).join(claimed, claimed.c.event_id == firsts.c.event_id)
    without_id = sa.select(*columns, s.event_id).select_from(_with_profile(src)).where(s.event_id.is_(None))
    union = sa.union_all(without_id, first_copies).subquery("rows")
    # In the order of the (profile_id, name, occurred_at) index: its pages are then written once each, in
    # sequence, instead of at random (which, once the index outgrows shared_buffers, costs reads and a
    # full-page WAL image per page touched after each checkpoint).
    rows = sa.select(*(union.c[name] for name in names)).order_by(union.c.profile_id, union.c.name, union.c.occurred_at)
    insert = sa.insert(events).from_select(names, rows)
    inserted, distinct_ids = _insert_counting(conn, insert, firsts, fresh, retaken, claimed)
    with_id = conn.execute(sa.select(sa.func.count()).select_from(src).where(s.event_id.is_not(None))).scalar_one()
    first_copies_stored = inserted - (staged - int(with_id))  # every row without an event_id was stored
    known = distinct_ids - first_copies_stored
    return MergeCounts(
        inserted=inserted, already_known=known, skipped_duplicates=staged - inserted, profiles_created=created
    )


def merge_subscriptions(conn: Connection, src: sa.FromClause, staged: int) -> MergeCounts:
    """Store every record (history); an exact repeat of a stored record (profile, channel, status, updated_at)
    is stored once, so loading a file twice changes nothing. Records are stored in row order: among records
    with the same updated_at the one stored last wins."""
    created = resolve_profiles(conn, src, create=True)
    s, pid = src.c, profiles.c.id
    incoming = (
        sa.select(pid.label("profile_id"), s.channel, s.status, s.updated_at, s.row_no)
        .select_from(_with_profile(src))
        .distinct(pid, s.channel, s.status, s.updated_at)
        .order_by(pid, s.channel, s.status, s.updated_at, s.row_no.desc())
        .cte("incoming")
    )
    i, stored = incoming.c, subscriptions.alias("stored")
    same = sa.exists().where(
        stored.c.profile_id == i.profile_id,
        stored.c.channel == i.channel,
        stored.c.updated_at == i.updated_at,
        stored.c.status == i.status,
    )
    rows = sa.select(i.profile_id, i.channel, i.status, i.updated_at).where(~same).order_by(i.row_no)
    insert = sa.insert(subscriptions).from_select(["profile_id", "channel", "status", "updated_at"], rows)
    inserted, distinct = _insert_counting(conn, insert, incoming, incoming)
    return MergeCounts(
        inserted=inserted,
        already_known=distinct - inserted,
        skipped_duplicates=staged - inserted,
        profiles_created=created,
    )


def _first_activity(src: sa.FromClause, with_id: bool) -> sa.Select:
    """The first row (by row_no) of each activity key: the activity_id when given, else the natural key."""
    s, pid = src.c, profiles.c.id
    key = [s.activity_id] if with_id else [pid, s.campaign, s.kind, s.occurred_at]
    return (
        sa.select(pid.label("profile_id"), s.campaign, s.kind, s.occurred_at, s.activity_id, s.row_no)
        .select_from(_with_profile(src))
        .where(s.activity_id.is_not(None) if with_id else s.activity_id.is_(None))
        .distinct(*key)
        .order_by(*key, s.row_no)
    )


def merge_activity(conn: Connection, src: sa.FromClause, staged: int) -> MergeCounts:
    """Store each activity key once (issue 11.6): rows with an `activity_id` by that id, the others by the
    natural key (profile, campaign, kind, occurred_at); see sql/0015_idempotent_loads.sql.

    Unknown external ids are invalid rows, taken out of `src` before (loader.reject_unknown, which also
    locked the profiles); rows whose profile is missing here are not joined, so never create a profile."""
    firsts = sa.union_all(_first_activity(src, False), _first_activity(src, True)).cte("firsts")
    f, stored = firsts.c, activity.alias("stored")
    same_key = sa.exists().where(
        f.activity_id.is_(None),
        stored.c.activity_id.is_(None),
        stored.c.profile_id == f.profile_id,
        stored.c.campaign == f.campaign,
        stored.c.kind == f.kind,
        stored.c.occurred_at == f.occurred_at,
    )
    same_id = sa.exists().where(stored.c.activity_id == f.activity_id)
    names = ["profile_id", "campaign", "kind", "occurred_at", "activity_id"]
    rows = sa.select(*(f[name] for name in names)).where(~same_key, ~same_id).order_by(f.row_no)
    insert = pg_insert(activity).from_select(names, rows).on_conflict_do_nothing()
    inserted, distinct = _insert_counting(conn, insert, firsts, firsts)
    return MergeCounts(inserted=inserted, already_known=distinct - inserted, skipped_duplicates=staged - inserted)
