"""Staging tables (temporary, dropped at commit, never WAL-logged) and the COPY that fills them.

Every staging table starts with `row_no`, the input row number: merges use it to let later rows win.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.engine import Connection

from segpipe.db.schema import TS

_metadata = sa.MetaData()


def _temp_table(name: str, *columns: sa.Column) -> sa.Table:
    return sa.Table(name, _metadata, *columns, prefixes=["TEMPORARY"], postgresql_on_commit="DROP")


def _stage(name: str, *columns: sa.Column) -> sa.Table:
    row_no = sa.Column("row_no", sa.BigInteger, nullable=False)
    external_id = sa.Column("external_id", sa.Text, nullable=False)
    return _temp_table(name, row_no, external_id, *columns)


PROFILES = _stage(
    "segpipe_stage_profiles",
    sa.Column("email", sa.Text),
    sa.Column("has_email", sa.Boolean, nullable=False),
    sa.Column("created_at", TS),
    sa.Column("attrs", JSONB, nullable=False),
    sa.Column("has_null", sa.Boolean, nullable=False),
)

EVENTS = _stage(
    "segpipe_stage_events",
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("occurred_at", TS, nullable=False),
    sa.Column("properties", JSONB, nullable=False),
    sa.Column("event_id", sa.Text),
)

SUBSCRIPTIONS = _stage(
    "segpipe_stage_subscriptions",
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
)


def _activity_stage(name: str) -> sa.Table:
    return _stage(
        name,
        sa.Column("campaign", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("activity_id", sa.Text),
    )


ACTIVITY = _activity_stage("segpipe_stage_activity")
# Staged activity rows of unknown external ids, moved out of ACTIVITY on their way to the reject file.
UNKNOWN_ACTIVITY = _activity_stage("segpipe_stage_unknown_activity")

# One row per external_id: the staged profile rows folded in row order (see merge.collapse_profiles).
PROFILE_CHANGES = _temp_table(
    "segpipe_stage_profile_changes",
    sa.Column("external_id", sa.Text, nullable=False),
    sa.Column("has_email", sa.Boolean, nullable=False),
    sa.Column("email", sa.Text),
    sa.Column("created_at", TS),
    sa.Column("sets", JSONB, nullable=False),
    sa.Column("unsets", ARRAY(sa.Text), nullable=False),
)


def create_temp(conn: Connection, table: sa.Table) -> None:
    table.create(conn)


def copy_rows(conn: Connection, table: sa.Table, rows: Iterable[tuple[Any, ...]]) -> int:
    """COPY the rows (text format, psycopg's `write_row`) into `table`; returns how many were written.

    An exception raised while producing the rows ends the COPY and then propagates (the transaction is rolled
    back by its owner). The COPY is ended normally rather than failed with the error's text: Postgres refuses a
    CopyFail message over 10,000 bytes and drops the connection, and a row's error may quote a long value.
    """
    quote = conn.dialect.identifier_preparer
    columns = ", ".join(quote.quote(column.name) for column in table.columns)
    statement = f"COPY {quote.format_table(table)} ({columns}) FROM STDIN"
    count = 0
    raw = conn.connection.driver_connection
    assert raw is not None
    failure: Exception | None = None
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        try:
            for row in rows:
                copy.write_row(row)
                count += 1
        except Exception as exc:  # noqa: BLE001 - raised again below, once the COPY has ended
            failure = exc
    if failure is not None:
        raise failure
    return count


def analyze(conn: Connection, table: sa.Table) -> None:
    conn.execute(sa.text(f"ANALYZE {conn.dialect.identifier_preparer.format_table(table)}"))
