"""Test data with plain SQL: profiles, segments (+ their dependency rows), consumers."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def add_profiles(conn: Connection, rows: list[tuple[str, str | None, dict[str, Any]]]) -> dict[str, int]:
    """Insert (external_id, email, attributes) rows; returns external_id → id. Bumps the data version."""
    ids = {}
    for external_id, email, attributes in rows:
        ids[external_id] = conn.execute(
            sa.text(
                "INSERT INTO segpipe.profiles (external_id, email, attributes) VALUES (:x, :e, CAST(:a AS jsonb))"
                " RETURNING id"
            ),
            {"x": external_id, "e": email, "a": json.dumps(attributes)},
        ).scalar_one()
    bump_data_version(conn)
    return ids


def set_attributes(conn: Connection, external_id: str, attributes: dict[str, Any]) -> None:
    conn.execute(
        sa.text("UPDATE segpipe.profiles SET attributes = CAST(:a AS jsonb) WHERE external_id = :x"),
        {"x": external_id, "a": json.dumps(attributes)},
    )
    bump_data_version(conn)


def bump_data_version(conn: Connection) -> None:
    conn.execute(sa.text("SELECT nextval('segpipe.data_version')"))


def referenced_keys(rules: Any) -> set[str]:
    if isinstance(rules, dict):
        found = {rules["segment"]} if isinstance(rules.get("segment"), str) and len(rules) == 1 else set()
        return found.union(*(referenced_keys(v) for v in rules.values()))
    if isinstance(rules, list):
        return set().union(*(referenced_keys(v) for v in rules))
    return set()


def add_segment(
    conn: Connection, key: str, rules: dict[str, Any], *, status: str = "active", archived: bool = False
) -> int:
    """Insert a segment row and one segment_dependencies row per {segment: KEY} in its rules."""
    segment_id = conn.execute(
        sa.text(
            "INSERT INTO segpipe.segments (key, name, rules, status, archived)"
            " VALUES (:k, :n, CAST(:r AS jsonb), :s, :a) RETURNING id"
        ),
        {"k": key, "n": f"Segment {key}", "r": json.dumps(rules), "s": status, "a": archived},
    ).scalar_one()
    for dep in sorted(referenced_keys(rules)):
        conn.execute(
            sa.text(
                "INSERT INTO segpipe.segment_dependencies (segment_id, depends_on_id)"
                " SELECT :id, id FROM segpipe.segments WHERE key = :dep"
            ),
            {"id": segment_id, "dep": dep},
        )
    return segment_id


def set_rules(conn: Connection, key: str, rules: dict[str, Any]) -> None:
    conn.execute(
        sa.text(
            "UPDATE segpipe.segments SET rules = CAST(:r AS jsonb), definition_changed_at = clock_timestamp()"
            " WHERE key = :k"
        ),
        {"k": key, "r": json.dumps(rules)},
    )


def add_consumer(conn: Connection, kind: str, key: str, status: str, segments: list[str]) -> None:
    conn.execute(
        sa.text("INSERT INTO segpipe.consumers (kind, key, status, spec) VALUES (:kind, :key, :st, '{}')"),
        {"kind": kind, "key": key, "st": status},
    )
    for segment in segments:
        conn.execute(
            sa.text(
                "INSERT INTO segpipe.consumer_segments (consumer_kind, consumer_key, segment_id, role)"
                " SELECT :kind, :key, id, 'include' FROM segpipe.segments WHERE key = :seg"
            ),
            {"kind": kind, "key": key, "seg": segment},
        )


def members(conn: Connection, key: str) -> set[str]:
    query = sa.text(
        "SELECT p.external_id FROM segpipe.memberships m JOIN segpipe.profiles p ON p.id = m.profile_id"
        " JOIN segpipe.segments s ON s.id = m.segment_id WHERE s.key = :k"
    )
    return set(conn.execute(query, {"k": key}).scalars())
