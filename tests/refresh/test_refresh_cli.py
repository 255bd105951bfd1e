from __future__ import annotations

import json

import pytest

from tests.refresh.helpers import add_profiles, add_segment

GOLD = {"attribute": "tier", "op": "eq", "value": "gold"}


@pytest.fixture()
def world(clean):
    with clean.begin() as conn:
        add_profiles(conn, [("u1", None, {"tier": "gold"}), ("u2", None, {"tier": "silver"})])
        add_segment(conn, "gold", GOLD)
        add_segment(conn, "in-gold", {"segment": "gold"})
        add_segment(conn, "sleepy", GOLD, status="inactive")
    return clean


def test_refresh_all_json_shape(world, cli):
    result = cli("refresh", "--all", "--as-of", "2026-03-01T00:00:00Z", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["key"], r["status"]) for r in rows] == [
        ("gold", "succeeded"),
        ("in-gold", "succeeded"),
        ("sleepy", "skipped"),
    ]
    gold = rows[0]
    assert {k: gold[k] for k in ("member_count", "added", "removed")} == {"member_count": 1, "added": 1, "removed": 0}
    assert rows[2]["reason"] == "inactive" and rows[2]["member_count"] is None
    assert gold["as_of"].startswith("2026-03-01T00:00:00")


def test_refresh_keys_prints_a_table(world, cli):
    result = cli("refresh", "in-gold")
    assert result.exit_code == 0, result.output
    assert "in-gold" in result.stdout and "succeeded" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give segment keys or --all"),
        (("gold", "--all"), "give segment keys or --all"),
        (("nope",), "unknown segment 'nope'"),
        (("gold", "--as-of", "yesterday"), "--as-of"),
    ],
)
def test_refresh_usage_errors_exit_2(world, cli, args, message):
    result = cli("refresh", *args)
    assert result.exit_code == 2
    assert message in result.stderr and result.stderr.startswith("error: ")


def test_refresh_exit_1_when_a_segment_fails(world, cli, engine):
    with engine.begin() as conn:
        add_segment(conn, "broken", {"attribute": "tier", "op": "bogus", "value": 1})
        add_segment(conn, "uses-broken", {"segment": "broken"})
    result = cli("refresh", "uses-broken", "gold", "--json")
    assert result.exit_code == 1
    rows = {r["key"]: r for r in json.loads(result.stdout)}
    assert rows["broken"]["status"] == "failed" and "bogus" in rows["broken"]["error"]
    assert rows["uses-broken"]["status"] == "skipped" and rows["uses-broken"]["reason"] == "dependency broken failed"
    assert rows["gold"]["status"] == "succeeded"
    assert "broken" in result.stderr
