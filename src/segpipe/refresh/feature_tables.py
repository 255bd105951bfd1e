"""The tables behind a run's shared scans: a catalog planned when the run starts, feature tables built lazily.

Objects, all UNLOGGED in schema `segpipe` and named only from the run id and our own counters:

- `run_features_<run>`: the catalog, one row per shared feature: its canonical key (`EventFeature.key`, a bound
  value, never an identifier), its group and column position, and per group the data version of the latest
  build and the number of builds.
- `run_features_<run>_<group>_<version>`: one build of a group: `profile_id` and `f<pos>` per feature, analyzed.

A segment that needs shared features calls `ensure_built` before its snapshot; the first one builds each group
it needs (others wait on the group's advisory lock, then find it built). Inside its snapshot it asks
`shared_columns` for the columns built at *its* data version, so a table is only used when the segment's own
snapshot would see the same events; otherwise its query scans as usual. A build never replaces a table (the
version is in the name): a snapshot that sees a catalog row also sees the table committed with it. A data change
mid-run allows one rebuild per group (`MAX_BUILDS`); after that, segments scan on their own.

Unlogged tables are emptied by crash recovery; the catalog is unlogged too, so after a crash it has no rows and
nothing reads an emptied table. `finish_run` drops a run's tables; `start_run` drops those of runs that ended
or crashed (`drop_abandoned`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from segpipe.db import schema as t
from segpipe.db.ddl import CreateTableAs
from segpipe.db.engine import set_local
from segpipe.errors import is_transient
from segpipe.refresh.locks import session_lock
from segpipe.rules.features import EventFeature, shared_scan
from segpipe.store.runs import data_version

LOCK_NAME = "run-features"
MAX_BUILDS = 2
ABANDONED_AFTER = timedelta(days=1)
"""A run still open this long after it started is taken for crashed (flows time out after 6 hours)."""
# Sort-based grouping: a hash of ~1M profiles × dozens of numeric aggregate states outgrows work_mem and spills.
BUILD_SETTINGS = {"work_mem": "256MB", "jit": "off", "enable_hashagg": "off"}

_SCHEMA = str(t.metadata.schema)
_PREFIX = "run_features_"
_OUR_NAME = re.compile(r"run_features_(\d+)(?:_\d+_\d+)?")
_log = logging.getLogger(__name__)


def catalog(run_id: int) -> sa.Table:
    return sa.Table(
        f"{_PREFIX}{int(run_id)}",
        sa.MetaData(),
        sa.Column("feature", sa.Text, nullable=False),  # no index: keys can be long, the catalog is small
        sa.Column("grp", sa.Integer, nullable=False),
        sa.Column("pos", sa.Integer, nullable=False),
        sa.Column("version", sa.BigInteger),
        sa.Column("builds", sa.Integer, nullable=False),
        schema=_SCHEMA,
        prefixes=["UNLOGGED"],
    )


def feature_table(run_id: int, grp: int, version: int, features: Iterable[tuple[int, EventFeature]]) -> sa.Table:
    """One build of a group, with the columns of the given (position, feature) pairs."""
    columns = [
        sa.Column(f"f{int(pos)}", sa.BigInteger if feature.aggregate == "count" else sa.Numeric)
        for pos, feature in features
    ]
    name = f"{_PREFIX}{int(run_id)}_{int(grp)}_{int(version)}"
    return sa.Table(name, sa.MetaData(), sa.Column("profile_id", sa.BigInteger), *columns, schema=_SCHEMA)


def create_catalog(conn: Connection, run_id: int, groups: Sequence[Sequence[EventFeature]]) -> None:
    """Plan the run's shared scans (nothing is scanned yet); no groups, no catalog."""
    if not any(groups):
        return
    table = catalog(run_id)
    table.create(conn)
    rows = [
        {"feature": feature.key, "grp": grp, "pos": pos, "version": None, "builds": 0}
        for grp, group in enumerate(groups)
        for pos, feature in enumerate(group)
    ]
    conn.execute(sa.insert(table), rows)


def _exists(conn: Connection, table: sa.Table) -> bool:
    query = sa.select(sa.func.to_regclass(sa.literal(f"{table.schema}.{table.name}", sa.Text)).is_not(None))
    return bool(conn.execute(query).scalar_one())


def ensure_built(conn: Connection, run_id: int, features: Collection[EventFeature], as_of: datetime) -> None:
    """Build every shared group holding one of `features` that is not built at the current data version.

    Commits `conn`'s transaction, then builds one group at a time under the group's lock, each in its own
    transaction. A group already built (the common case: the first reader built it) costs one catalog read.
    """
    pending = _unbuilt_groups(conn, run_id, features)
    conn.commit()
    for grp in pending:
        with session_lock(conn, LOCK_NAME, str(run_id), str(grp)):
            _build_group(conn, run_id, grp, as_of)


def _unbuilt_groups(conn: Connection, run_id: int, features: Collection[EventFeature]) -> list[int]:
    table = catalog(run_id)
    if not features or not _exists(conn, table):
        return []
    stale = sa.or_(table.c.version.is_(None), table.c.version != data_version(conn))
    query = sa.select(table.c.grp).distinct().where(table.c.feature.in_([f.key for f in features]))
    return sorted(conn.execute(query.where(stale, table.c.builds < MAX_BUILDS)).scalars())


def _build_group(conn: Connection, run_id: int, grp: int, as_of: datetime) -> None:
    """In one snapshot: build the group at the snapshot's data version, unless done or out of builds."""
    table = catalog(run_id)
    try:
        version = data_version(conn)
        query = sa.select(table.c.feature, table.c.pos, table.c.version, table.c.builds).where(table.c.grp == grp)
        rows = conn.execute(query.order_by(table.c.pos)).all()
        if not rows or rows[0].version == version or rows[0].builds >= MAX_BUILDS:
            conn.rollback()
            return
        features = [EventFeature.from_key(row.feature) for row in rows]
        set_local(conn, BUILD_SETTINGS)
        built = feature_table(run_id, grp, version, [])
        conn.execute(CreateTableAs(built, shared_scan(features, as_of), "unlogged"))
        conn.execute(sa.text(f"ANALYZE {conn.dialect.identifier_preparer.format_table(built)}"))
        conn.execute(sa.update(table).where(table.c.grp == grp).values(version=version, builds=rows[0].builds + 1))
        conn.commit()
    except Exception as exc:
        conn.rollback()
        if is_transient(exc):
            raise
        # Sharing is an optimization: a group that cannot be built leaves its segments to scan on their own.
        _log.warning("shared scan %s of refresh run %s not built: %s", grp, run_id, exc)
        conn.execute(sa.update(table).where(table.c.grp == grp).values(builds=MAX_BUILDS))
        conn.commit()


def shared_columns(
    conn: Connection, run_id: int, features: Collection[EventFeature], version: int
) -> dict[EventFeature, sa.Column[Any]]:
    """The columns holding `features` as built at data `version` (those built at another version are left out);
    read inside the segment's snapshot."""
    table = catalog(run_id)
    if not features or not _exists(conn, table):
        return {}
    by_key = {feature.key: feature for feature in features}
    query = sa.select(table.c.feature, table.c.grp, table.c.pos).where(
        table.c.version == version, table.c.feature.in_(list(by_key))
    )
    placed: dict[int, list[tuple[int, EventFeature]]] = {}
    for key, grp, pos in conn.execute(query):
        placed.setdefault(grp, []).append((pos, by_key[key]))
    columns: dict[EventFeature, sa.Column[Any]] = {}
    for grp, items in placed.items():
        built = feature_table(run_id, grp, version, items)
        columns.update({feature: built.c[f"f{pos}"] for pos, feature in items})
    return columns


def drop_run_tables(conn: Connection, run_id: int) -> None:
    """Drop the run's catalog and feature tables (waits for a session still reading them)."""
    _drop(conn, [name for name, owner in _our_tables(conn) if owner == run_id])


def drop_abandoned(conn: Connection, older_than: timedelta = ABANDONED_AFTER) -> None:
    """Drop the tables of runs that ended, no longer exist, or started longer ago than `older_than`."""
    tables = _our_tables(conn)
    if not tables:
        return
    runs = t.refresh_runs.c
    cutoff = sa.func.now() - sa.literal(older_than, sa.Interval)
    alive = sa.select(runs.id).where(
        runs.id.in_({owner for _, owner in tables}), runs.finished_at.is_(None), runs.started_at > cutoff
    )
    live = set(conn.execute(alive).scalars())
    _drop(conn, [name for name, owner in tables if owner not in live])


def _our_tables(conn: Connection) -> list[tuple[str, int]]:
    """(name, run id) of every run-features table this session may drop (under least-privilege roles another
    role's tables are left to it or to an admin: docs/security.md)."""
    query = sa.text(
        "SELECT tablename FROM pg_tables WHERE schemaname = :schema AND starts_with(tablename, :prefix)"
        " AND pg_has_role(tableowner, 'USAGE')"
    )
    names = conn.execute(query, {"schema": _SCHEMA, "prefix": _PREFIX}).scalars()
    matches = (_OUR_NAME.fullmatch(name) for name in names)
    return [(match.group(0), int(match.group(1))) for match in matches if match]


def _drop(conn: Connection, names: Iterable[str]) -> None:
    preparer = conn.dialect.identifier_preparer
    for name in sorted(names):
        assert _OUR_NAME.fullmatch(name)
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {preparer.quote_schema(_SCHEMA)}.{preparer.quote(name)}"))
