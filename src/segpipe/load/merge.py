"""Set-based merges of staged rows into customer data.

The source is any FROM clause with a staging table's columns: the COPY staging table of a load, or a one-row
SELECT of bound parameters for `identify`/`track`. So a file load and a single call run the same SQL.
Profiles are found by external_id only; nothing else keyed by a (possibly deleted) profile is consulted, so a
deleted profile that comes back is a new row with a new id and no history.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, aggregate_order_by
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from segpipe.db.schema import activity, data_version, event_ids, events, profiles, subscriptions
from segpipe.load import copy


@dataclass
class MergeCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped_duplicates: int = 0
    profiles_created: int = 0


def _jsonb(column: ColumnElement) -> ColumnElement:
    """A one-row source carries JSON as text, a staging table as jsonb: the cast serves both."""
    return sa.cast(column, JSONB)


def _rowcount(conn: Connection, statement: sa.Executable) -> int:
    """Rows written; SQLAlchemy reports an INSERT's rowcount only when asked to keep it."""
    return conn.execute(statement, execution_options={"preserve_rowcount": True}).rowcount


def _with_profile(src: sa.FromClause) -> sa.Join:
    return sa.join(src, profiles, profiles.c.external_id == src.c.external_id)


def _known(external_id: ColumnElement) -> ColumnElement:
    """The anti-join that keeps known ids away from INSERT ... ON CONFLICT, which would burn an identity value
    (and a speculative insertion) for each; ON CONFLICT stays for ids another session creates meanwhile.

    New keys are inserted in key order, so that two loads creating the same keys wait for each other instead
    of deadlocking."""
    return sa.exists().where(profiles.c.external_id == external_id)


def ensure_profiles(conn: Connection, src: sa.FromClause) -> int:
    """Create the profiles of unknown external ids (created_at = now); returns how many were created."""
    new_ids = sa.select(src.c.external_id).where(~_known(src.c.external_id)).distinct().order_by(src.c.external_id)
    statement = (
        pg_insert(profiles)
        .from_select(["external_id"], new_ids)
        .on_conflict_do_nothing(index_elements=[profiles.c.external_id])
    )
    return _rowcount(conn, statement)


def _last_given(column: ColumnElement, given: ColumnElement, order: ColumnElement) -> ColumnElement:
    """The value of the last row (by row_no) in which the field was given."""
    values = sa.func.array_agg(aggregate_order_by(column, order.desc())).filter(given)
    return sa.type_coerce(values.self_group(), ARRAY(column.type))[1]


def collapse_profiles(src: sa.FromClause) -> sa.Select:
    """One change per external_id: later rows win field by field; attribute deltas fold key by key."""
    order = src.c.row_no
    delta = sa.func.segpipe.jsonb_concat_agg(aggregate_order_by(_jsonb(src.c.attrs), order), type_=JSONB)
    grouped = (
        sa.select(
            src.c.external_id,
            sa.func.bool_or(src.c.has_email).label("has_email"),
            _last_given(src.c.email, src.c.has_email, order).label("email"),
            _last_given(src.c.created_at, src.c.created_at.is_not(None), order).label("created_at"),
            delta.label("delta"),
            sa.func.bool_or(src.c.has_null).label("has_null"),
        )
        .group_by(src.c.external_id)
        .subquery("grouped")
    )
    g = grouped.c
    no_keys = sa.cast(sa.literal_column("'{}'"), ARRAY(sa.Text))
    return sa.select(
        g.external_id,
        g.has_email,
        g.email,
        g.created_at,
        sa.case((g.has_null, sa.func.segpipe.jsonb_without_nulls(g.delta, type_=JSONB)), else_=g.delta).label("sets"),
        sa.case((g.has_null, sa.func.segpipe.jsonb_null_keys(g.delta, type_=ARRAY(sa.Text))), else_=no_keys).label(
            "unsets"
        ),
    )


def _insert_new_profiles(conn: Connection, changes: sa.FromClause) -> int:
    now = sa.func.now()
    rows = (
        sa.select(
            changes.c.external_id, changes.c.email, sa.func.coalesce(changes.c.created_at, now), now, changes.c.sets
        )
        .where(~_known(changes.c.external_id))
        .order_by(changes.c.external_id)
    )
    statement = (
        pg_insert(profiles)
        .from_select(["external_id", "email", "created_at", "updated_at", "attributes"], rows)
        .on_conflict_do_nothing(index_elements=[profiles.c.external_id])
    )
    return _rowcount(conn, statement)


def _update_profiles(conn: Connection, changes: sa.FromClause) -> int:
    """Apply changes to existing profiles, skipping rows they would not change (those just inserted included)."""
    c, p = changes.c, profiles.c
    email = sa.case((c.has_email, c.email), else_=p.email)
    created_at = sa.func.coalesce(c.created_at, p.created_at)
    attributes = p.attributes.op("-", return_type=JSONB)(c.unsets).op("||", return_type=JSONB)(c.sets)
    changed = sa.tuple_(email, created_at, attributes).is_distinct_from(sa.tuple_(p.email, p.created_at, p.attributes))
    statement = (
        profiles.update()
        .where(p.external_id == c.external_id, changed)
        .values(email=email, created_at=created_at, attributes=attributes, updated_at=sa.func.now())
    )
    return _rowcount(conn, statement)


def merge_profiles(conn: Connection, src: sa.FromClause, staged: int, *, materialize: bool) -> MergeCounts:
    """Upsert by external_id. Insert first, then update in a new statement: a profile that another session
    created meanwhile is then visible and updated, not lost. `materialize` keeps the folded changes in a
    temporary table so that a large load folds once (a one-row source folds for free)."""
    changes: sa.FromClause
    if materialize:
        copy.create_temp(conn, copy.PROFILE_CHANGES)
        table = copy.PROFILE_CHANGES
        names = [column.name for column in table.columns]
        count = _rowcount(conn, sa.insert(table).from_select(names, collapse_profiles(src)))
        copy.analyze(conn, table)
        changes = table
    else:
        changes = collapse_profiles(src).subquery("changes")
        count = staged
    inserted = _insert_new_profiles(conn, changes)
    updated = _update_profiles(conn, changes) if inserted < count else 0  # all new: nothing left to update
    return MergeCounts(inserted=inserted, updated=updated, unchanged=count - inserted - updated)


def _claim_event_ids(firsts: sa.CTE) -> tuple[sa.CTE, sa.CTE, sa.CTE]:
    """(fresh, retaken, claimed): record the new event ids; an id whose profile no longer exists (a stale row
    a deletion left behind) is taken over. Known ids are found by an anti-join first: ON CONFLICT alone
    would lock (and write) every conflicting row, which makes reloading a file 10x slower."""
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

    Both branches read the staging table directly (no shared CTE): the planner then sees its statistics and
    picks hash joins for a large load and index lookups for a small one.
    """
    created = ensure_profiles(conn, src)
    s = src.c
    columns = [profiles.c.id.label("profile_id"), s.name, s.occurred_at, _jsonb(s.properties).label("properties")]
    without_id = sa.select(*columns, s.event_id).select_from(_with_profile(src)).where(s.event_id.is_(None))
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
    rows = sa.union_all(without_id, first_copies)
    statement = sa.insert(events).from_select(names, rows).add_cte(fresh, retaken, claimed)
    inserted = _rowcount(conn, statement)
    return MergeCounts(inserted=inserted, skipped_duplicates=staged - inserted, profiles_created=created)


def merge_subscriptions(conn: Connection, src: sa.FromClause, staged: int) -> MergeCounts:
    """Store every record (history); an exact repeat of a stored record (profile, channel, status, updated_at)
    is stored once, so loading a file twice changes nothing. Records are stored in row order: among records
    with the same updated_at the one stored last wins."""
    created = ensure_profiles(conn, src)
    s, pid = src.c, profiles.c.id
    incoming = (
        sa.select(pid.label("profile_id"), s.channel, s.status, s.updated_at, s.row_no)
        .select_from(_with_profile(src))
        .distinct(pid, s.channel, s.status, s.updated_at)
        .order_by(pid, s.channel, s.status, s.updated_at, s.row_no.desc())
        .subquery("incoming")
    )
    i, stored = incoming.c, subscriptions.alias("stored")
    same = sa.exists().where(
        stored.c.profile_id == i.profile_id,
        stored.c.channel == i.channel,
        stored.c.updated_at == i.updated_at,
        stored.c.status == i.status,
    )
    rows = sa.select(i.profile_id, i.channel, i.status, i.updated_at).where(~same).order_by(i.row_no)
    statement = sa.insert(subscriptions).from_select(["profile_id", "channel", "status", "updated_at"], rows)
    inserted = _rowcount(conn, statement)
    return MergeCounts(inserted=inserted, skipped_duplicates=staged - inserted, profiles_created=created)


def merge_activity(conn: Connection, src: sa.FromClause, staged: int) -> MergeCounts:
    """Append every record: activity has no natural key (two opens of one message are two rows)."""
    created = ensure_profiles(conn, src)
    s = src.c
    rows = sa.select(profiles.c.id, s.campaign, s.kind, s.occurred_at).select_from(_with_profile(src))
    statement = sa.insert(activity).from_select(["profile_id", "campaign", "kind", "occurred_at"], rows)
    inserted = _rowcount(conn, statement)
    return MergeCounts(inserted=inserted, profiles_created=created)


def bump_data_version(conn: Connection) -> None:
    """Tell the refresh engine that customer data changed (in the same transaction as the change)."""
    conn.execute(sa.select(data_version.next_value()))
