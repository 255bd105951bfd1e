"""Activity of an unknown external_id is an invalid row (issue 11.6), never a new profile.

Activity says what a message did to a known recipient; a row for an id segpipe never saw (a typo, another
workspace's export, a profile deleted since) would otherwise silently create a profile. The check runs on the
staging table after COPY, with the profiles locked (resolve.lock_profiles), so that the set of known ids cannot
change before the merge: without `--skip-invalid` the first such row (lowest row number) aborts the load as
`file:row: reason`; with it, the rows move to the reject file (after the rows rejected while reading).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from segpipe.load import copy
from segpipe.load.rejects import Rejects
from segpipe.load.resolve import known, lock_profiles

_MAX_SHOWN = 60


def reason(external_id: str) -> str:
    shown = external_id if len(external_id) <= _MAX_SHOWN else external_id[: _MAX_SHOWN - 3] + "..."
    return f"unknown external_id '{shown}': activity is loaded only for existing profiles (load the profile first)"


def _record(row: sa.Row) -> dict[str, object]:
    record = {name: value for name, value in row._mapping.items() if name != "row_no" and value is not None}
    if isinstance(record.get("occurred_at"), datetime):
        record["occurred_at"] = record["occurred_at"].isoformat()
    return record


def reject_unknown(conn: Connection, stage: sa.Table, rejects: Rejects) -> int:
    """Lock the staged rows' profiles; reject the rows without one. Returns how many rows were rejected."""
    lock_profiles(conn, stage)
    unknown = ~known(stage.c.external_id)
    if not rejects.collecting:
        first = conn.execute(sa.select(stage).where(unknown).order_by(stage.c.row_no).limit(1)).first()
        if first is not None:
            rejects.add(first.row_no, reason(first.external_id), _record(first))  # raises InvalidInput
        return 0
    moved = copy.UNKNOWN_ACTIVITY
    copy.create_temp(conn, moved)
    gone = sa.delete(stage).where(unknown).returning(*stage.columns).cte("gone")
    names = [column.name for column in stage.columns]
    conn.execute(sa.insert(moved).from_select(names, sa.select(*gone.c)))
    count = 0
    rows = conn.execute(sa.select(moved).order_by(moved.c.row_no), execution_options={"yield_per": 1000})
    for row in rows:
        rejects.add(row.row_no, reason(row.external_id), _record(row))
        count += 1
    return count
