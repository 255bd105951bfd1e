"""The rows of a profile: which tables hold them (derived from the schema) and what a deletion does with each.

Every table of `segpipe.db.schema` with a `profile_id` column holds rows of a profile; `HANDLING` says what a
deletion does with them, and importing this module fails when a table with `profile_id` has no entry, so a
new linked table cannot be forgotten (tests/deletion/test_linked_tables.py also checks the migrated database).

Postgres deletes a batch (`segpipe.delete_profile_batch`, sql/0013): a new DELETE or ANONYMIZE table needs a
statement there too; tests/deletion/test_linked_tables.py checks that the function names every one.
"""

from __future__ import annotations

import enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection

from segpipe.db import schema as t


class Handling(enum.Enum):
    DELETE = "delete"
    """The rows are deleted with the profile."""
    ANONYMIZE = "anonymize"
    """The rows stay with `profile_id` set to NULL (message activity: campaign statistics must not change)."""
    KEEP = "keep"
    """Ids only, no personal data: the deletion's own record of which profile ids it deletes, and the incremental
    refresh's change logs (a deletion is a change the next refresh must see; pruned after it has)."""


HANDLING: dict[str, Handling] = {
    t.profiles.name: Handling.DELETE,
    t.events.name: Handling.DELETE,
    t.event_ids.name: Handling.DELETE,
    t.subscriptions.name: Handling.DELETE,
    t.memberships.name: Handling.DELETE,
    t.snapshot_members.name: Handling.DELETE,
    t.activity.name: Handling.ANONYMIZE,
    t.deletion_manifest.name: Handling.KEEP,
    t.profile_changes.name: Handling.KEEP,
    t.member_changes.name: Handling.KEEP,
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
