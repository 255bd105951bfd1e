"""A file load: read and validate rows while COPYing them into a staging table, then merge set-based.

All of it runs in one transaction: an invalid row (without `--skip-invalid`) or any failure rolls back
everything, so a load writes all of its valid rows or nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from segpipe.db import schema
from segpipe.db.engine import BULK_SETTINGS, set_local
from segpipe.load import copy, ledger, resolve
from segpipe.load.kinds import Kind, get_kind
from segpipe.load.merge import MergeCounts, bump_data_version
from segpipe.load.readers import Source, parquet_columns, read_rows
from segpipe.load.rejects import Rejects, default_rejects_path
from segpipe.load.unknown import reject_unknown
from segpipe.load.validate import RowError


@dataclass
class LoadResult:
    kind: str
    file: str
    rows: int
    """Data rows read (blank lines not counted): valid + rejected."""
    inserted: int
    """New rows: profiles created by a profiles load; events, subscription records, activity rows stored."""
    updated: int
    already_known: int
    """Rows already stored before this load, left as they were (profiles: profiles, not rows)."""
    unchanged: int
    """The same number as `already_known` (the name of the first release, kept for scripts)."""
    skipped_duplicates: int
    rejected: int
    profiles_created: int
    rejects_file: str | None
    ignored_fields: list[str]
    analyzed: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    """Where the time went: `stage` (read, validate, COPY), `merge`, `commit`, `analyze`."""


@dataclass
class _Tally:
    rows: int = 0
    ignored: set[str] = field(default_factory=set)
    clock: dict[str, float] = field(default_factory=dict)
    digest: ledger.ContentDigest = field(default_factory=ledger.ContentDigest)
    _last: float = field(default_factory=time.perf_counter)

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.clock[name] = round(now - self._last, 3)
        self._last = now


def _staged_rows(source: Source, kind: Kind, rejects: Rejects, tally: _Tally) -> Iterator[tuple[Any, ...]]:
    convert, dialect, fields = kind.convert, source.dialect, kind.fields
    if source.format == "parquet":
        tally.ignored.update(set(parquet_columns(source)) - fields)
    for number, record, error in read_rows(source, fields):
        tally.rows += 1
        if error is None:
            try:
                values = convert(record, dialect)
            except RowError as exc:
                error = str(exc)
            else:
                if not fields.issuperset(record):
                    tally.ignored.update(set(record) - fields)
                tally.digest.add(values)
                yield (number, *values)
                continue
        rejects.add(number, error, record)


def _merge(conn: Connection, kind: Kind, rejects: Rejects, staged: int, digest: str) -> MergeCounts:
    """Merge the staged rows, one load of a kind at a time; a deadlock victim retries from its savepoint.

    Events already loaded with exactly these rows merge nothing (`ledger`). The hook for change tracking:
    `bump_data_version` runs here (and in tracking.py) in the same transaction as every merge that wrote
    something, with the staging table still there."""
    resolve.serialize(conn, kind.name)
    if kind.known_profiles_only:
        staged -= resolve.retry_deadlocks(conn, lambda: reject_unknown(conn, kind.stage, rejects))
    if not staged:
        return MergeCounts()
    if kind.name in ledger.KINDS:
        if ledger.seen(conn, kind.name, digest):
            return MergeCounts(already_known=staged, skipped_duplicates=staged)
        ledger.record(conn, kind.name, digest, staged)
    counts = resolve.retry_deadlocks(conn, lambda: kind.merge(conn, kind.stage, staged))
    if counts.inserted or counts.updated or counts.profiles_created:
        bump_data_version(conn)
    return counts


def _stage_and_merge(conn: Connection, kind: Kind, source: Source, rejects: Rejects, tally: _Tally) -> MergeCounts:
    set_local(conn, BULK_SETTINGS)
    copy.create_temp(conn, kind.stage)
    staged = copy.copy_rows(conn, kind.stage, _staged_rows(source, kind, rejects, tally))
    tally.lap("stage")
    counts = MergeCounts()
    if staged:
        copy.analyze(conn, kind.stage)
        counts = _merge(conn, kind, rejects, staged, tally.digest.hexdigest())
    tally.lap("merge")
    return counts


def load(
    engine: Engine, kind_name: str, source: Source, *, skip_invalid: bool = False, rejects_path: Path | None = None
) -> LoadResult:
    """Load one file of `kind_name` rows (contract §2)."""
    kind = get_kind(kind_name)
    reject_to = (rejects_path or default_rejects_path(source)) if skip_invalid else None
    tally = _Tally()
    with Rejects(source, reject_to) as rejects, engine.begin() as conn:
        counts = _stage_and_merge(conn, kind, source, rejects, tally)
    tally.lap("commit")
    analyzed = analyze_stale(engine, _written(kind, counts))
    tally.lap("analyze")
    return LoadResult(
        kind=kind.name,
        file=source.name,
        rows=tally.rows,
        inserted=counts.inserted,
        updated=counts.updated,
        already_known=counts.already_known,
        unchanged=counts.already_known,
        skipped_duplicates=counts.skipped_duplicates,
        rejected=rejects.count,
        profiles_created=counts.profiles_created,
        rejects_file=str(reject_to) if reject_to else None,
        ignored_fields=sorted(tally.ignored),
        analyzed=analyzed,
        seconds=tally.clock,
    )


def _written(kind: Kind, counts: MergeCounts) -> dict[sa.Table, int]:
    written = {}
    for table in kind.tables:
        created_only = table is schema.profiles and kind.name != "profiles"
        written[table] = counts.profiles_created if created_only else counts.inserted + counts.updated
    return written


def analyze_stale(engine: Engine, written: dict[sa.Table, int]) -> list[str]:
    """ANALYZE the tables a load changed by more than autovacuum's default threshold (50 rows + 10%).

    Autovacuum is off on the servers segpipe targets, so without this the planner would plan against the
    statistics of an empty table. Runs after the commit; a failure here does not undo the load.
    """
    query = sa.text(
        "SELECT c.reltuples, coalesce(s.n_mod_since_analyze, 0) FROM pg_class c"
        " LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.oid = CAST(:name AS regclass)"
    )
    analyzed: list[str] = []
    try:
        with engine.connect() as conn:
            for table, count in written.items():
                if count <= 0:
                    continue
                reltuples, modified = conn.execute(query, {"name": table.fullname}).one()
                if modified + count > 50 + 0.1 * max(reltuples, 0):
                    conn.execute(sa.text(f"ANALYZE {conn.dialect.identifier_preparer.format_table(table)}"))
                    conn.commit()
                    analyzed.append(table.name)
    except sa.exc.DBAPIError:
        pass  # statistics are an optimisation; the data is committed
    return analyzed
