"""How many profiles one batch deletes when the operator does not say: enough for about ROWS_PER_BATCH rows.

A batch's cost is the pages its rows lie on. When a deletion is a large share of a table (every tenth
profile, with events spread over the whole table), every batch touches nearly every page of it again, so
two batches cost about twice one (BENCHMARKS.md, "Deletion"). The batch is therefore sized in rows, the unit
Postgres works in, not in profiles: a profile with 10,000 events weighs what 500 profiles with 20 do. The
rows per profile come from the planner's statistics (`pg_class.reltuples`, kept by ANALYZE), free to read.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection

from segpipe.db import schema as t
from segpipe.deletion.rows import LINKED_TABLES

ROWS_PER_BATCH = 5_000_000
"""Rows (profiles and everything linked to them) one batch deletes or anonymizes when no size is given:
about 15–20 s and 4 GB of WAL per transaction on the benchmark machine."""
FALLBACK_BATCH_SIZE = 50_000
"""Profiles per batch when the tables have no statistics yet (never analyzed)."""
MIN_BATCH_SIZE = 1_000
MAX_BATCH_SIZE = 200_000
"""The process holds one batch's ids and their salted hashes (about 200 bytes a profile): at most ~40 MB."""

_LINKED = tuple(table.name for table in LINKED_TABLES if table is not t.profiles)


_STATISTICS = sa.text(
    "SELECT relname, reltuples FROM pg_class"
    " WHERE relnamespace = CAST(:schema AS regnamespace) AND relname = ANY(:names)"
).bindparams(sa.bindparam("names", type_=ARRAY(sa.Text)))


def auto_batch_size(conn: Connection) -> int:
    """Profiles per batch for about ROWS_PER_BATCH rows, from the average rows linked to one profile."""
    names = [t.profiles.name, *_LINKED]
    tuples = {name: float(n) for name, n in conn.execute(_STATISTICS, {"schema": t.profiles.schema, "names": names})}
    profiles = tuples.get(t.profiles.name, -1.0)
    if profiles <= 0:
        return FALLBACK_BATCH_SIZE
    per_profile = 1 + sum(max(tuples.get(name, 0.0), 0.0) for name in _LINKED) / profiles
    return int(min(max(ROWS_PER_BATCH / per_profile, MIN_BATCH_SIZE), MAX_BATCH_SIZE))
