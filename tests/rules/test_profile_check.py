"""Point evaluation: `refresh.profile_check.is_member`, `segpipe.is_member` and `segpipe segment check`."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

import segpipe
from segpipe.errors import NotFound
from segpipe.refresh.profile_check import is_member
from tests.rules.conftest import AS_OF, insert_events, insert_profiles, reset

SEGMENTS = {
    "buyers": {"event": "purchase", "within": {"days": 7}},
    "de": {"attribute": "country", "op": "eq", "value": "DE"},
    "de-buyers": {"all": [{"segment": "de"}, {"segment": "buyers"}]},
    "not-de-buyers": {"not": {"segment": "de-buyers"}},
}


@pytest.fixture(scope="module")
def stored(engine):
    with engine.begin() as conn:
        reset(conn)
        conn.execute(sa.text("TRUNCATE segpipe.segments, segpipe.memberships CASCADE"))
        ids = insert_profiles(
            conn,
            [
                {"external_id": "anna", "attributes": {"country": "DE"}},
                {"external_id": "ben", "attributes": {"country": "DE"}},
                {"external_id": "cleo", "attributes": {"country": "FR"}},
            ],
        )
        insert_events(
            conn,
            ids,
            [
                {"external_id": "anna", "event": "purchase", "occurred_at": AS_OF - timedelta(days=1)},
                {"external_id": "ben", "event": "purchase", "occurred_at": AS_OF - timedelta(days=10)},
                {"external_id": "cleo", "event": "purchase", "occurred_at": AS_OF},
            ],
        )
        for key, rules in SEGMENTS.items():
            conn.execute(
                sa.text("INSERT INTO segpipe.segments (key, name, rules) VALUES (:k, :k, CAST(:r AS jsonb))"),
                {"k": key, "r": json.dumps(rules)},
            )
    return ids


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("buyers", {"anna", "cleo"}),
        ("de", {"anna", "ben"}),
        ("de-buyers", {"anna"}),
        ("not-de-buyers", {"ben", "cleo"}),
    ],
)
def test_is_member_inlines_references_recursively(engine, stored, key, expected):
    with engine.connect() as conn:
        assert {x for x in ("anna", "ben", "cleo") if is_member(conn, x, key, AS_OF)} == expected


def test_as_of_moves_the_window(engine, stored):
    with engine.connect() as conn:
        assert is_member(conn, "ben", "de-buyers", AS_OF - timedelta(days=5))
        assert not is_member(conn, "cleo", "buyers", AS_OF - timedelta(seconds=1))


def test_unknown_profile_or_segment_is_not_found(engine, stored):
    with engine.connect() as conn:
        with pytest.raises(NotFound, match="unknown profile 'nobody'"):
            is_member(conn, "nobody", "de", AS_OF)
        with pytest.raises(NotFound, match="unknown segment 'nope'"):
            is_member(conn, "anna", "nope", AS_OF)


def test_point_query_uses_the_per_profile_event_index(engine, stored):
    from segpipe.db import schema as t
    from segpipe.rules import compile_predicate, parse_rules

    predicate = compile_predicate(parse_rules(SEGMENTS["buyers"]), AS_OF, None)
    query = sa.select(predicate).where(t.profiles.c.external_id == "anna")
    with engine.connect() as conn:
        conn.execute(sa.text("SET enable_seqscan = off"))
        compiled = query.compile(conn)
        plan = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params))
        conn.execute(sa.text("RESET enable_seqscan"))
    assert "events_profile_name_time_idx" in plan
    assert "profiles_external_id_key" in plan


def test_public_api(settings, stored):
    assert segpipe.is_member("anna", "de-buyers", AS_OF, settings=settings)
    assert not segpipe.is_member("cleo", "de", settings=settings)


def test_cli_segment_check(cli, stored):
    result = cli("segment", "check", "de-buyers", "anna", "--as-of", AS_OF.isoformat(), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"key": "de-buyers", "external_id": "anna", "member": True}
    result = cli("segment", "check", "de", "cleo")
    assert result.exit_code == 0 and "cleo is not a member of de" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("de", "nobody"), "unknown profile 'nobody'"),
        (("nope", "anna"), "unknown segment 'nope'"),
        (("de", "anna", "--as-of", "yesterday"), "--as-of"),
    ],
)
def test_cli_segment_check_refusals_exit_2(cli, stored, args, message):
    result = cli("segment", "check", *args)
    assert result.exit_code == 2
    assert message in result.stderr
