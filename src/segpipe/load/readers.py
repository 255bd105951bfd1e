"""Input files → numbered records, streamed (one line, CSV row or Parquet batch in memory at a time).

A reader yields `(row, record, error)`: `record` is a dict when the row could be read (even if `error` is set),
else the raw text of the row; `error` is None or why the row is invalid. Rows are counted from 1: the line number
in JSON Lines (blank lines included), the data row after the header in CSV (blank lines are not data rows), the
row index + 1 in Parquet.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from segpipe.errors import InvalidInput
from segpipe.load.validate import CSV, JSONL, PARQUET, Dialect, json_error, loads, type_name

RawRow = tuple[int, Any, str | None]

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
_DIALECTS = {"csv": CSV, "jsonl": JSONL, "parquet": PARQUET}
_BOM = b"\xef\xbb\xbf"
_PARQUET_BATCH = 8192


@dataclass(frozen=True)
class Source:
    """Where a load reads from. `name` is what messages show: the path as given, or `<stdin>`."""

    name: str
    format: str
    path: Path | None = None
    stream: BinaryIO | None = None

    @property
    def dialect(self) -> Dialect:
        return _DIALECTS[self.format]


def open_source(path: str, stdin: BinaryIO | None = None) -> Source:
    """Check the input before anything touches the database: `-` is JSON Lines on stdin, else by extension."""
    if path == "-":
        return Source("<stdin>", "jsonl", stream=stdin if stdin is not None else sys.stdin.buffer)
    file = Path(path)
    if not file.exists():
        raise InvalidInput("no such file", where=path)
    if file.is_dir():
        raise InvalidInput("is a directory, not a file", where=path)
    fmt = FORMATS.get(file.suffix.lower())
    if fmt is None:
        raise InvalidInput(
            f"unsupported file type '{file.suffix or '(none)'}': use .csv, .jsonl, .ndjson or .parquet "
            "(or - for JSON Lines on stdin)",
            where=path,
        )
    return Source(path, fmt, path=file)


def read_rows(source: Source, fields: frozenset[str] | None = None) -> Iterator[RawRow]:
    """The numbered records of a source, in file order. Parquet reads only the columns in `fields` (all when
    None): a columnar file need not decode what the load ignores."""
    try:
        if source.format == "jsonl":
            if source.stream is not None:
                yield from _jsonl_rows(source.stream)
            else:
                assert source.path is not None
                with source.path.open("rb") as stream:
                    yield from _jsonl_rows(stream)
        elif source.format == "csv":
            yield from _csv_rows(source)
        else:
            yield from _parquet_rows(source, fields)
    except OSError as exc:
        raise InvalidInput(f"cannot read: {exc.strerror or exc}", where=source.name) from None


def _jsonl_rows(stream: BinaryIO) -> Iterator[RawRow]:
    for number, line in enumerate(stream, 1):
        if number == 1 and line.startswith(_BOM):
            line = line[len(_BOM) :]
        if not line.strip():
            continue
        try:
            record = loads(line)
        except (ValueError, RecursionError) as exc:
            # surrogateescape: the reject file gets the original bytes of a line that is not valid UTF-8.
            yield number, line.decode("utf-8", "surrogateescape").rstrip("\r\n"), f"malformed JSON: {json_error(exc)}"
            continue
        if not isinstance(record, dict):
            yield number, record, f"not a JSON object (got {type_name(record)})"
            continue
        yield number, record, None


def _blank(cells: list[str]) -> bool:
    """A blank line (or one of spaces only) is not a data row: it is skipped and not counted."""
    return not cells or (len(cells) == 1 and cells[0].isspace())


def _csv_header(reader: Any, source: Source) -> list[str] | None:
    header = next((cells for cells in reader if not _blank(cells)), None)
    if header is None:
        return None
    names = [name.strip() for name in header]
    seen: set[str] = set()
    for name in names:
        # Unnamed columns (trailing commas of a spreadsheet export) are ignored like any unknown column.
        if name in seen and name:
            raise InvalidInput(f"header: duplicate column '{name}'", where=source.name)
        seen.add(name)
    return names


def _csv_rows(source: Source) -> Iterator[RawRow]:
    assert source.path is not None
    csv.field_size_limit(1 << 30)  # attributes are whole JSON documents in one cell
    # surrogateescape: an invalid byte does not stop the file; the row it is in is refused by validation.
    with source.path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        # strict: an unterminated quote or text after a closing quote is an error, not silently mangled data.
        reader = csv.reader(handle, strict=True)
        number = 0
        try:
            header = _csv_header(reader, source)
            if header is None:
                return
            width = len(header)
            for cells in reader:
                if _blank(cells):
                    continue
                number += 1
                record = dict(zip(header, cells, strict=False))
                if len(cells) != width:
                    yield number, record, f"expected {width} fields (as in the header), got {len(cells)}"
                    continue
                yield number, record, None
        except csv.Error as exc:
            raise InvalidInput(f"malformed CSV: {exc}", where=f"{source.name}:{number + 1}") from None


def _open_parquet(source: Source) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    assert source.path is not None
    try:
        # Buffered column-chunk reads without pre-buffering: memory is bounded by the row group being read.
        return pq.ParquetFile(source.path, buffer_size=1 << 20, pre_buffer=False)
    except (pa.ArrowException, ValueError, OSError) as exc:
        raise InvalidInput(f"not a readable Parquet file: {exc}", where=source.name) from None


def parquet_columns(source: Source) -> list[str]:
    """The column names of a Parquet source (its schema, no data read)."""
    parquet = _open_parquet(source)
    try:
        return list(parquet.schema_arrow.names)
    finally:
        parquet.close()


def _text_from_binary(batch: Any) -> Any:
    """Binary columns as UTF-8 text: writers without string logical types (older Spark, some Hive tables) store
    every string column as plain binary."""
    import pyarrow as pa

    columns = [
        column.cast(pa.string()) if pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type) else column
        for column in batch.columns
    ]
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _parquet_rows(source: Source, fields: frozenset[str] | None) -> Iterator[RawRow]:

    parquet = _open_parquet(source)
    columns = None if fields is None else [name for name in parquet.schema_arrow.names if name in fields]
    number = 0
    try:
        for batch in parquet.iter_batches(batch_size=_PARQUET_BATCH, columns=columns):
            for record in _records(batch, source.name, number + 1):
                number += 1
                yield number, record, None
    except _read_errors() as exc:
        raise InvalidInput(f"cannot read Parquet data: {exc}", where=f"{source.name}:{number + 1}") from None
    finally:
        parquet.close()


def _read_errors() -> tuple[type[Exception], ...]:
    import pyarrow as pa

    return (pa.ArrowException, ValueError, OverflowError, OSError)


def _records(batch: Any, name: str, first: int) -> list[dict[str, Any]]:
    """The batch's rows as dicts. A value Python cannot hold (a timestamp past year 9999, invalid UTF-8 in a
    binary column) fails the whole batch's conversion: it is then found row by row and reported at its row."""
    try:
        return _text_from_binary(batch).to_pylist()
    except _read_errors():
        for offset in range(batch.num_rows):
            try:
                _text_from_binary(batch.slice(offset, 1)).to_pylist()
            except _read_errors() as exc:
                raise InvalidInput(f"cannot read Parquet data: {exc}", where=f"{name}:{first + offset}") from None
        raise
