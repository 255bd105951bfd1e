"""Hostile load files: rows that mix valid and invalid values, written as csv, jsonl or parquet, then corrupted."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import strategies as st

from tests.reliability.strategies import HOSTILE_TEXT, scalars, text, values

KINDS = ("profiles", "events", "subscriptions", "activity")
FORMATS = ("csv", "jsonl", "parquet")
IDS = ["u1", "u2", "u3", "u4"]
TIMES = [
    "2024-05-01T10:00:00Z", "2024-05-01T10:00:00", "2024-05-01", "2024-05-01T10:00:00+05:30",
    "99999-01-01T00:00:00Z", "0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
    "294277-01-01T00:00:00Z", "-infinity", "infinity", "2024-02-30T00:00:00Z", "2024-05-01T10:00:00+25:00",
    "1e400", "",
]  # fmt: skip
FIELDS = {
    "profiles": ("external_id", "email", "created_at", "attributes"),
    "events": ("external_id", "event", "occurred_at", "properties", "event_id"),
    "subscriptions": ("external_id", "channel", "status", "updated_at"),
    "activity": ("external_id", "campaign", "kind", "occurred_at"),
}
CHOICES = {
    "external_id": IDS,
    "event": ["login", "purchase"],
    "channel": ["email", "sms", "push", "fax"],
    "status": ["subscribed", "unsubscribed", "maybe"],
    "campaign": ["c1", "c2"],
    "kind": ["sent", "delivered", "open", "click", "bounce", "unsubscribe", "nope"],
    "event_id": ["e1", "e2", "e3"],
    "email": ["a@example.com", "b@example.com"],
}
OBJECTS = ("attributes", "properties")
TIMESTAMPS = ("created_at", "occurred_at", "updated_at")


def _field(name: str) -> st.SearchStrategy[Any]:
    if name in OBJECTS:
        return st.one_of(st.dictionaries(st.one_of(st.sampled_from(["a", "b"]), text), values, max_size=3), values)
    good = st.sampled_from(TIMES) if name in TIMESTAMPS else st.sampled_from(CHOICES[name])
    return st.one_of(good, good, good, scalars)


@st.composite
def records(draw: st.DrawFn, kind: str) -> list[dict[str, Any]]:
    """1-6 rows; each field usually valid, sometimes hostile, sometimes missing."""
    rows = []
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        row = {}
        for name in FIELDS[kind]:
            if draw(st.integers(min_value=0, max_value=9)) > 0:
                row[name] = draw(_field(name))
        rows.append(row)
    return rows


def _cell(value: Any) -> str:
    if isinstance(value, str):
        return value
    return "" if value is None else json.dumps(value)


def render(kind: str, fmt: str, rows: list[dict[str, Any]]) -> bytes:
    if fmt == "jsonl":
        return "".join(json.dumps(r) + "\n" for r in rows).encode("utf-8", "surrogatepass")
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(FIELDS[kind])
        writer.writerows([[_cell(r.get(f)) for f in FIELDS[kind]] for r in rows])
        return out.getvalue().encode("utf-8", "surrogatepass")
    cells = {f: [None if r.get(f) is None else _cell(r.get(f)) for r in rows] for f in FIELDS[kind]}
    columns = {f: pa.array(column, pa.string()) for f, column in cells.items()}
    sink = io.BytesIO()
    pq.write_table(pa.table(columns), sink)
    return sink.getvalue()


CORRUPTIONS = ("none", "bom", "crlf", "nul", "latin1", "utf16", "truncate", "garbage", "garbage_line", "empty")


def corrupt(data: bytes, how: str, cut: float, garbage: bytes) -> bytes:
    """Apply one fault to a rendered file."""
    if how == "bom":
        return b"\xef\xbb\xbf" + data
    if how == "crlf":
        return data.replace(b"\n", b"\r\n")
    if how == "nul":
        at = int(len(data) * cut)
        return data[:at] + b"\x00" + data[at:]
    if how == "latin1":
        return data.decode("utf-8", "replace").encode("latin-1", "replace") + "é\n".encode("latin-1")
    if how == "utf16":
        return data.decode("utf-8", "replace").encode("utf-16")
    if how == "truncate":
        return data[: int(len(data) * cut)]
    if how == "garbage":
        return garbage
    if how == "garbage_line":
        at = data.find(b"\n", int(len(data) * cut))
        at = len(data) if at < 0 else at + 1
        return data[:at] + garbage + b"\n" + data[at:]
    if how == "empty":
        return b""
    return data


def write(directory: Path, kind: str, fmt: str, data: bytes, n: int) -> Path:
    path = directory / f"{kind}-{n}.{fmt}"
    path.write_bytes(data)
    return path


__all__ = ["CORRUPTIONS", "FORMATS", "HOSTILE_TEXT", "KINDS", "corrupt", "records", "render", "write"]
