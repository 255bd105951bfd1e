# ruff: noqa: E501  (SQL reads best on one line)
"""Races between real `segpipe` processes: each pair ends in the state of some serial order, no deadlock error
reaches the user, and no stale membership is published (the next refresh-all agrees with a fresh recompute)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.reliability.helpers import SEGPIPE, budget, report
from tests.reliability.world import content, profile_rows, recompute, segment_keys, stored_members, write_jsonl

pytestmark = pytest.mark.reliability
RACES = budget("SEGPIPE_RACES", 1)


def _start(world, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "SEGPIPE_DATABASE_URL": world["db_url"], "SEGPIPE_HOME": str(world["home"]), "SEGPIPE_ORCHESTRATION": "direct"}  # fmt: skip
    return subprocess.Popen([str(SEGPIPE), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _race(world, first: list[str], second: list[str], offset: float = 0.0) -> list[tuple[int, str]]:
    """Both commands at once (the second `offset` seconds later); their exit codes and stderr."""
    one = _start(world, *first)
    time.sleep(offset)
    two = _start(world, *second)
    outcomes = []
    for proc in (one, two):
        _, err = proc.communicate(timeout=300)
        assert "deadlock" not in err.lower() and "Traceback" not in err, err
        outcomes.append((proc.returncode, err))
    return outcomes


def _failures(world) -> list[tuple[str, str]]:
    """The stored error of every failed segment refresh (to explain a failed race)."""
    query = "SELECT s.key, r.error FROM segpipe.segment_refreshes r JOIN segpipe.segments s ON s.id = r.segment_id WHERE r.status = 'failed'"
    with world["engine"].connect() as conn:
        return [tuple(row) for row in conn.execute(sa.text(query))]


def _fresh(world) -> None:
    """After the race a refresh-all publishes exactly what a recompute gives (nothing stale left behind)."""
    assert world["invoke"]("refresh", "--all").exit_code == 0
    with world["engine"].connect() as conn:
        for key in segment_keys(world["engine"]):
            assert stored_members(conn, key) == recompute(conn, key), f"segment {key} stale after the race"


def _recomputed(world) -> dict[str, set[int] | None]:
    with world["engine"].connect() as conn:
        return {key: recompute(conn, key) for key in segment_keys(world["engine"])}


def _stored(world) -> dict[str, set[int]]:
    with world["engine"].connect() as conn:
        return {key: stored_members(conn, key) for key in segment_keys(world["engine"])}


def _offset(world) -> float:
    return world["rng"].uniform(0, 1.5)


def _load(world, name: str, rows: list) -> str:
    return str(write_jsonl(world["home"] / name, rows))


def test_two_refresh_alls(world):
    for n in range(RACES):
        _load_now(world, profile_rows(700 + n))
        outcomes = _race(world, ["refresh", "--all"], ["refresh", "--all"], _offset(world))
        assert [code for code, _ in outcomes] == [0, 0], outcomes
        with world["engine"].connect() as conn:
            for key in segment_keys(world["engine"]):
                assert stored_members(conn, key) == recompute(conn, key)
    report("races", case="two refresh-alls", runs=RACES)


def _load_now(world, rows: list) -> None:
    assert world["invoke"]("load", "profiles", _load(world, f"now-{time.monotonic_ns()}.jsonl", rows)).exit_code == 0


def test_a_load_during_a_refresh(world):
    for n in range(RACES):
        _load_now(world, profile_rows(710 + n))
        assert world["invoke"]("refresh", "--all").exit_code == 0
        path = _load(world, f"race-load-{n}.jsonl", profile_rows(720 + n))
        old = _recomputed(world)
        outcomes = _race(world, ["refresh", "--all"], ["load", "profiles", path], _offset(world))
        assert [code for code, _ in outcomes] == [0, 0], outcomes
        new, stored = _recomputed(world), _stored(world)
        for key, members in stored.items():
            assert members in (old[key], new[key]), f"segment {key}: neither before nor after the load"
        _fresh(world)
    report("races", case="load during refresh-all", runs=RACES)


def test_apply_of_a_changed_definition_during_a_refresh(world):
    doc = Path(world["home"]) / "de.yaml"
    for n in range(RACES):
        country = ("FR", "IT", "DE")[n % 3]
        doc.write_text(
            f"kind: Segment\nkey: de\nname: Germany\nrules: {{attribute: country, op: eq, value: {country}}}\nguard: {{max_drop: 1}}\n"
        )
        outcomes = _race(world, ["refresh", "--all"], ["apply", str(doc)], _offset(world))
        assert [code for code, _ in outcomes] == [0, 0], (outcomes, _failures(world))
        _fresh(world)
        with world["engine"].connect() as conn:
            expected = conn.execute(
                sa.text("SELECT id FROM segpipe.profiles WHERE attributes->>'country' = :c"), {"c": country}
            )
            assert stored_members(conn, "de") == set(expected.scalars())
    doc.write_text(
        "kind: Segment\nkey: de\nname: Germany\nrules: {attribute: country, op: eq, value: DE}\nguard: {max_drop: 1}\n"
    )
    assert world["invoke"]("apply", str(doc)).exit_code == 0
    report("races", case="apply of a changed definition during refresh-all", runs=RACES)


def test_two_deletions_of_the_same_segment(world):
    from tests.reliability.test_kill_loops import DOOMED, _delete_args, _deleted_exactly_the_manifest, _doomed_segment

    for n in range(RACES):
        key, name = _doomed_segment(world, 800 + n)
        outcomes = _race(world, _delete_args(key, name), _delete_args(key, name), _offset(world) / 3)
        codes = sorted(code for code, _ in outcomes)
        assert codes in ([0, 3], [0, 0]), outcomes  # the second is refused by a gate, or finds its job done
        _deleted_exactly_the_manifest(world["engine"], key, 800 + n)
        assert DOOMED > 0
    report("races", case="two deletions of one segment", runs=RACES)


def test_two_loads_of_overlapping_profiles_in_different_orders(world):
    """Upserts of the same 3,000 profiles, one file ascending, the other descending: no deadlock reaches the user."""
    for n in range(RACES):
        rows_a, rows_b = profile_rows(900 + 2 * n), profile_rows(901 + 2 * n)[::-1]
        path_a, path_b = _load(world, f"over-a-{n}.jsonl", rows_a), _load(world, f"over-b-{n}.jsonl", rows_b)
        outcomes = _race(world, ["load", "profiles", path_a], ["load", "profiles", path_b], _offset(world) / 5)
        assert [code for code, _ in outcomes] == [0, 0], outcomes
        raced = content(world["engine"])["profiles"]
        serial = []
        for first, second in ((path_a, path_b), (path_b, path_a)):
            for path in (first, second):
                assert world["invoke"]("load", "profiles", path).exit_code == 0
            serial.append(content(world["engine"])["profiles"])
        assert raced in serial, "the concurrent loads ended in no serial order's state"
    report("races", case="two overlapping loads in opposite orders", runs=RACES)


def test_classify_during_presend(world):
    for n in range(RACES):
        _load_now(world, profile_rows(950 + n))
        outcomes = _race(world, ["presend", "bf"], ["classify"], _offset(world) * 2)
        assert [code for code, _ in outcomes] == [0, 0], outcomes
        with world["engine"].connect() as conn:
            snap = conn.execute(
                sa.text(
                    "SELECT s.status, s.member_count, (SELECT count(*) FROM segpipe.snapshot_members m WHERE m.snapshot_id = s.id)"
                    " FROM segpipe.audience_snapshots s ORDER BY id DESC LIMIT 1"
                )
            ).one()
            statuses = set(
                conn.execute(
                    sa.text("SELECT status FROM segpipe.segments WHERE key IN ('de', 'big-spenders', 'pro')")
                ).scalars()
            )
        assert snap[0] == "ready" and snap[1] == snap[2], snap
        assert statuses == {"active"}, statuses  # the campaign is scheduled: its segments are in live use
    report("races", case="classify during presend", runs=RACES)
