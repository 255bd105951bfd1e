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

from segpipe.db.schema import data_version, profiles
from segpipe.load import copy
from segpipe.load.resolve import known, resolve_profiles


@dataclass
class MergeCounts:
    inserted: int = 0
    """New rows (profiles, events, subscription records, activity rows)."""
    updated: int = 0
    """Existing profiles changed (profiles only)."""
    already_known: int = 0
    """Rows already stored before this load, left as they were (profiles: unchanged profiles)."""
    skipped_duplicates: int = 0
    """Rows not stored (appended kinds): already known, or repeating an earlier row of the same load."""
    profiles_created: int = 0


def _jsonb(column: ColumnElement) -> ColumnElement:
    """A one-row source carries JSON as text, a staging table as jsonb: the cast serves both."""
    return sa.cast(column, JSONB)


def _rowcount(conn: Connection, statement: sa.Executable) -> int:
    """Rows written; SQLAlchemy reports an INSERT's rowcount only when asked to keep it."""
    return conn.execute(statement, execution_options={"preserve_rowcount": True}).rowcount


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
        .where(~known(changes.c.external_id))
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
    """Upsert by external_id. Lock the existing profiles (resolve.py), insert the new ones, then update in a
    new statement: a profile that another session created meanwhile is then visible and updated, not lost.
    `materialize` keeps the folded changes in a temporary table so that a large load folds once (a one-row
    source folds for free)."""
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
    resolve_profiles(conn, changes, create=False, update=True)
    inserted = _insert_new_profiles(conn, changes)
    updated = _update_profiles(conn, changes) if inserted < count else 0  # all new: nothing left to update
    return MergeCounts(inserted=inserted, updated=updated, already_known=count - inserted - updated)


def bump_data_version(conn: Connection) -> None:
    """Tell the refresh engine that customer data changed (in the same transaction as the change)."""
    conn.execute(sa.select(data_version.next_value()))
