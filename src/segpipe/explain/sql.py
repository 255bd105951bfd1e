"""`segpipe segment sql KEY`: the member query a segment's refresh runs, as text a person can read and run.

The refresh binds every value as a parameter; here they are rendered inline as literals (for reading and for
pasting into psql), so the text is the same query with its values written out. A referenced segment reads that
segment's stored members, as a refresh does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from segpipe.refresh.membership import compile_segment, members_resolver
from segpipe.store.segments import require_segment


def segment_sql(conn: Connection, key: str, as_of: datetime) -> str:
    """The compiled member query of segment `key` as of `as_of`, literal-bound."""
    segment = require_segment(conn, key)
    query = compile_segment(segment, as_of, members_resolver(conn))
    return render(query)


def render(query: sa.Select[Any]) -> str:
    compiled = query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    return str(compiled).strip() + ";"
