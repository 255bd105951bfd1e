"""Streamed export of a segment's stored members: csv (COPY), JSON Lines (COPY), Parquet (batches).

Memory stays flat whatever the segment size: rows flow from Postgres to the output in chunks, never as a list.
Rows are ordered by external_id (code-point order, `COLLATE "C"`), so previews and exports are stable.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from segpipe.db import schema as t
from segpipe.db.engine import driver_connection
from segpipe.errors import InvalidInput

FORMATS = ("csv", "jsonl", "parquet")
HASHES = ("md5", "sha256")
BUILTIN_FIELDS = ("external_id", "email", "created_at", "attributes")
DEFAULT_FIELDS = ("external_id", "email")
HASHED_FIELDS = ("external_id", "email")
ATTRIBUTE_PREFIX = "attributes."
PARQUET_BATCH_ROWS = 50_000

_p, _m = t.profiles, t.memberships


@dataclass(frozen=True)
class Field:
    """One output column: `name` is the header / JSON key as the user wrote it."""

    name: str
    column: str | None = None
    attribute: str | None = None


def parse_fields(text: str | None) -> list[Field]:
    """`external_id,email,created_at,attributes.plan,country`: a bare name that is not a built-in column is a
    custom attribute; `attributes.NAME` names an attribute explicitly (e.g. one called `email`).

    `external_id` is always the first column (contract §6), added when not listed and moved to the front when
    listed later: every export row is keyed by the profile."""
    if text is None:
        return [Field(name, column=name) for name in DEFAULT_FIELDS]
    names = [part.strip() for part in text.split(",")]
    fields: list[Field] = []
    for name in names:
        if not name or name == ATTRIBUTE_PREFIX:
            raise InvalidInput("expected a comma-separated list of field names", where="--fields")
        if name.startswith(ATTRIBUTE_PREFIX) and len(name) > len(ATTRIBUTE_PREFIX):
            fields.append(Field(name, attribute=name[len(ATTRIBUTE_PREFIX) :]))
        elif name in BUILTIN_FIELDS:
            fields.append(Field(name, column=name))
        else:
            fields.append(Field(name, attribute=name))
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InvalidInput(f"field '{duplicates[0]}' is listed twice", where="--fields")
    return [Field("external_id", column="external_id"), *(f for f in fields if f.column != "external_id")]


def _hashed(value: sa.ColumnElement[Any], algorithm: str) -> sa.ColumnElement[Any]:
    """Lowercase hex digest of the value's UTF-8 text, computed by Postgres (no pgcrypto needed)."""
    utf8 = sa.func.convert_to(value, "UTF8")  # md5(text) would hash the bytes of the database encoding
    if algorithm == "md5":
        return sa.func.md5(utf8)
    return sa.func.encode(sa.func.sha256(utf8), "hex")


def _iso_utc(value: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """`2026-03-01T12:00:00Z`, with `.ffffff` only when the time has a fraction of a second."""
    utc = sa.func.timezone("UTC", value)
    whole = sa.func.to_char(utc, 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
    fraction = sa.func.to_char(utc, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    return sa.case((sa.func.date_trunc("second", value) == value, whole), else_=fraction)


def _value(field: Field, fmt: str, hash_algorithm: str | None) -> sa.ColumnElement[Any]:
    if field.attribute is not None:
        # JSON Lines keeps the attribute's JSON type; csv and Parquet get its text (objects as JSON text).
        return _p.c.attributes.op("->")(field.attribute) if fmt == "jsonl" else _p.c.attributes[field.attribute].astext
    column = _p.c[field.column or ""]
    if field.column == "attributes":
        # The whole object: JSON in JSON Lines, its JSON text in csv and Parquet.
        return column if fmt == "jsonl" else sa.cast(column, sa.Text)
    if hash_algorithm and field.column in HASHED_FIELDS:
        return _hashed(column, hash_algorithm)
    if field.column == "created_at" and fmt != "parquet":
        return _iso_utc(column)
    return column


def members_select(
    segment_id: int,
    fields: Sequence[Field],
    fmt: str,
    hash_algorithm: str | None = None,
    limit: int | None = None,
    source: sa.Select[Any] | None = None,
) -> sa.Select[Any]:
    """The export query: one labelled column per field (`f0`, `f1`, …), stable order, optional limit.

    `source` (a select of `profile_id`) replaces the stored members, e.g. an as-of evaluation."""
    columns = [_value(field, fmt, hash_algorithm).label(f"f{i}") for i, field in enumerate(fields)]
    if source is None:
        joined = _m.join(_p, _p.c.id == _m.c.profile_id)
        query = sa.select(*columns).select_from(joined).where(_m.c.segment_id == segment_id)
    else:
        ids = source.subquery("evaluated")
        query = sa.select(*columns).select_from(ids.join(_p, _p.c.id == ids.c.profile_id))
    query = query.order_by(_p.c.external_id.collate("C"))
    return query.limit(limit) if limit is not None else query


def _jsonl_select(query: sa.Select[Any], fields: Sequence[Field]) -> sa.Select[Any]:
    inner = query.subquery("member")
    pairs: list[Any] = []
    for i, field in enumerate(fields):
        pairs += [sa.literal(field.name, sa.Text), inner.c[f"f{i}"]]
    return sa.select(sa.cast(sa.func.json_build_object(*pairs), sa.Text))


def _copy_out(conn: Connection, query: sa.Select[Any], options: str, out: BinaryIO) -> int:
    """Stream `COPY (query) TO STDOUT WITH (options)` into `out`; returns the row count."""
    compiled = query.compile(dialect=conn.dialect)
    with driver_connection(conn).cursor() as cursor:
        with cursor.copy(f"COPY ({compiled}) TO STDOUT WITH ({options})", compiled.params) as copy:
            for chunk in copy:
                out.write(chunk)
        return int(cursor.rowcount)


def write_csv(conn: Connection, query: sa.Select[Any], fields: Sequence[Field], out: BinaryIO) -> int:
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow([field.name for field in fields])
    out.write(header.getvalue().encode())
    return _copy_out(conn, query, "FORMAT csv", out)


def write_jsonl(conn: Connection, query: sa.Select[Any], fields: Sequence[Field], out: BinaryIO) -> int:
    # JSON text never holds a raw control character (Postgres escapes them), so csv COPY with control
    # characters as quote and delimiter passes each object through verbatim, one per line.
    return _copy_out(conn, _jsonl_select(query, fields), "FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02'", out)


def write_parquet(conn: Connection, query: sa.Select[Any], fields: Sequence[Field], out: BinaryIO) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = [pa.timestamp("us", tz="UTC") if f.column == "created_at" else pa.string() for f in fields]
    schema = pa.schema([pa.field(f.name, kind) for f, kind in zip(fields, types, strict=True)])
    result = conn.execute(query.execution_options(stream_results=True, yield_per=PARQUET_BATCH_ROWS))
    rows = 0
    with pq.ParquetWriter(out, schema) as writer:
        for batch in result.partitions():
            columns = zip(*batch, strict=True)
            arrays = [pa.array(values, kind) for values, kind in zip(columns, types, strict=True)]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            rows += len(batch)
        if rows == 0:
            writer.write_table(schema.empty_table())
    return rows


WRITERS = {"csv": write_csv, "jsonl": write_jsonl, "parquet": write_parquet}


def export_members(
    conn: Connection,
    segment_id: int,
    out: BinaryIO,
    *,
    fields: Sequence[Field],
    fmt: str = "csv",
    hash_algorithm: str | None = None,
    limit: int | None = None,
    source: sa.Select[Any] | None = None,
) -> int:
    """Write the segment's stored members (or `source`'s profiles) to `out` in `fmt`; returns the row count."""
    query = members_select(segment_id, fields, fmt, hash_algorithm, limit, source)
    return WRITERS[fmt](conn, query, fields, out)
