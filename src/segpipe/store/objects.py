"""Consumers of segments (campaigns, journeys, test lists, messages, reports) and their references."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection

from segpipe.db import schema as t


@dataclass(frozen=True)
class ConsumerRow:
    kind: str
    key: str
    name: str | None
    status: str | None
    channel: str | None
    spec: dict[str, Any]
    segments: frozenset[tuple[str, str]] = field(default_factory=frozenset)
    """(segment key, role) pairs; role is include, exclude or uses."""
    links: frozenset[tuple[str, str]] = field(default_factory=frozenset)
    """(target kind, target key) pairs: the campaigns and journeys this consumer is attached to."""


def list_consumers(conn: Connection, keys: Collection[str] | None = None) -> list[ConsumerRow]:
    """Every consumer (or those with one of `keys`, of any kind) with its segment references and links."""
    c = t.consumers
    query = sa.select(c.c.kind, c.c.key, c.c.name, c.c.status, c.c.channel, c.c.spec).order_by(c.c.kind, c.c.key)
    if keys is not None:
        query = query.where(c.c.key.in_(list(keys)))
    rows = conn.execute(query).all()
    wanted = None if keys is None else list(keys)
    segments = _segment_refs(conn, wanted)
    links = _links(conn, wanted)
    return [
        ConsumerRow(
            row.kind,
            row.key,
            row.name,
            row.status,
            row.channel,
            row.spec,
            segments=frozenset(segments.get((row.kind, row.key), ())),
            links=frozenset(links.get((row.kind, row.key), ())),
        )
        for row in rows
    ]


def _segment_refs(conn: Connection, keys: list[str] | None) -> dict[tuple[str, str], set[tuple[str, str]]]:
    cs, s = t.consumer_segments, t.segments
    query = sa.select(cs.c.consumer_kind, cs.c.consumer_key, s.c.key, cs.c.role).join(s, s.c.id == cs.c.segment_id)
    if keys is not None:
        query = query.where(cs.c.consumer_key.in_(keys))
    found: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for kind, key, segment_key, role in conn.execute(query):
        found.setdefault((kind, key), set()).add((segment_key, role))
    return found


def _links(conn: Connection, keys: list[str] | None) -> dict[tuple[str, str], set[tuple[str, str]]]:
    cl = t.consumer_links
    query = sa.select(cl.c.consumer_kind, cl.c.consumer_key, cl.c.target_kind, cl.c.target_key)
    if keys is not None:
        query = query.where(cl.c.consumer_key.in_(keys))
    found: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for kind, key, target_kind, target_key in conn.execute(query):
        found.setdefault((kind, key), set()).add((target_kind, target_key))
    return found


def upsert_consumer(conn: Connection, kind: str, key: str, values: dict[str, Any]) -> None:
    """Create or replace a consumer; `values` holds name, status, channel and spec."""
    c = t.consumers
    insert = pg_insert(c).values(kind=kind, key=key, **values)
    conn.execute(
        insert.on_conflict_do_update(index_elements=[c.c.kind, c.c.key], set_={**values, "updated_at": sa.func.now()})
    )


def replace_consumer_segments(conn: Connection, kind: str, key: str, refs: Sequence[tuple[str, str]]) -> None:
    """Make the consumer's segment references exactly `refs` ((segment key, role) pairs)."""
    cs, s = t.consumer_segments, t.segments
    conn.execute(sa.delete(cs).where(cs.c.consumer_kind == kind, cs.c.consumer_key == key))
    if not refs:
        return
    wanted = sa.values(sa.column("key", sa.Text), sa.column("role", sa.Text), name="wanted").data(sorted(set(refs)))
    select = sa.select(sa.literal(kind), sa.literal(key), s.c.id, wanted.c.role).join(wanted, wanted.c.key == s.c.key)
    conn.execute(sa.insert(cs).from_select([cs.c.consumer_kind, cs.c.consumer_key, cs.c.segment_id, cs.c.role], select))


def replace_consumer_links(conn: Connection, kind: str, key: str, links: Sequence[tuple[str, str]]) -> None:
    """Make the consumer's links exactly `links` ((target kind, target key) pairs)."""
    cl = t.consumer_links
    conn.execute(sa.delete(cl).where(cl.c.consumer_kind == kind, cl.c.consumer_key == key))
    rows = [
        {"consumer_kind": kind, "consumer_key": key, "target_kind": tk, "target_key": tkey}
        for tk, tkey in sorted(set(links))
    ]
    if rows:
        conn.execute(sa.insert(cl), rows)
