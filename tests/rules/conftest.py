"""Fixtures for rule tests: a module database, plain-SQL data loading, and member sets in both modes."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from segpipe.db import schema as t
from segpipe.rules import compile_members, compile_predicate, parse_rules

AS_OF = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def reset(conn: Connection) -> None:
    conn.execute(sa.text("TRUNCATE segpipe.profiles, segpipe.events, segpipe.subscriptions RESTART IDENTITY"))


def insert_profiles(conn: Connection, profiles: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Plain INSERTs; each profile: external_id, optional email, created_at, attributes. Returns external_id → id."""
    ids = {}
    for p in profiles:
        row = conn.execute(
            sa.text(
                "INSERT INTO segpipe.profiles (external_id, email, created_at, attributes)"
                " VALUES (:x, :e, :c, CAST(:a AS jsonb)) RETURNING id"
            ),
            {
                "x": p["external_id"],
                "e": p.get("email"),
                "c": p.get("created_at", datetime(2025, 1, 1, tzinfo=UTC)),
                "a": json.dumps(p.get("attributes", {})),
            },
        )
        ids[p["external_id"]] = row.scalar_one()
    return ids


def insert_events(conn: Connection, ids: dict[str, int], events: Iterable[dict[str, Any]]) -> None:
    for e in events:
        conn.execute(
            sa.text(
                "INSERT INTO segpipe.events (profile_id, name, occurred_at, properties)"
                " VALUES (:p, :n, :o, CAST(:props AS jsonb))"
            ),
            {
                "p": ids[e["external_id"]],
                "n": e["event"],
                "o": e["occurred_at"],
                "props": json.dumps(e.get("properties", {})),
            },
        )


def insert_subscriptions(conn: Connection, ids: dict[str, int], records: Iterable[dict[str, Any]]) -> None:
    for s in records:
        conn.execute(
            sa.text(
                "INSERT INTO segpipe.subscriptions (profile_id, channel, status, updated_at) VALUES (:p, :c, :s, :u)"
            ),
            {"p": ids[s["external_id"]], "c": s["channel"], "s": s["status"], "u": s["updated_at"]},
        )


def set_members(conn: Connection, rules: Any, as_of: datetime = AS_OF, resolve: Callable | None = None) -> set[str]:
    query = compile_members(parse_rules(rules), as_of, resolve, mode="set").subquery()
    ext = sa.select(t.profiles.c.external_id).join(query, query.c.profile_id == t.profiles.c.id)
    return set(conn.execute(ext).scalars())


def point_members(conn: Connection, rules: Any, as_of: datetime = AS_OF, resolve: Callable | None = None) -> set[str]:
    """Point mode, one query per profile (as `is_member` does)."""
    predicate = compile_predicate(parse_rules(rules), as_of, resolve)
    found = set()
    for external_id in conn.execute(sa.select(t.profiles.c.external_id)).scalars():
        query = sa.select(predicate).where(t.profiles.c.external_id == external_id)
        if conn.execute(query).scalar_one():
            found.add(external_id)
    return found


@pytest.fixture()
def conn(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that is rolled back: each test starts from empty tables."""
    with engine.connect() as connection:
        transaction = connection.begin()
        reset(connection)
        yield connection
        transaction.rollback()


@pytest.fixture()
def members(conn: Connection) -> Callable[..., set[str]]:
    """members(rules, as_of=AS_OF, resolve=None): the set-mode members, checked equal to the point-mode ones."""

    def evaluate(rules: Any, as_of: datetime = AS_OF, resolve: Callable | None = None) -> set[str]:
        found = set_members(conn, rules, as_of, resolve)
        assert point_members(conn, rules, as_of, resolve) == found
        return found

    return evaluate
