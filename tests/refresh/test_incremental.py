"""Incremental refresh: when it is used, what it evaluates, when it falls back to full, and the change logs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from segpipe.refresh import engine
from tests.refresh.helpers import add_profiles, add_segment, members, set_attributes, set_rules

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
HOUR = timedelta(hours=1)
GOLD = {"attribute": "tier", "op": "eq", "value": "gold"}
RECENT_BUY = {"event": "buy", "within": {"hours": 2}}


def _track(conn: sa.Connection, external_id: str, name: str, at: datetime) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO segpipe.events (profile_id, name, occurred_at)"
            " SELECT id, :n, :o FROM segpipe.profiles WHERE external_id = :x"
        ),
        {"x": external_id, "n": name, "o": at},
    )
    conn.execute(sa.text("SELECT nextval('segpipe.data_version')"))


@pytest.fixture()
def world(clean):
    with clean.begin() as conn:
        add_profiles(conn, [(f"u{i}", None, {"tier": "gold" if i % 2 else "silver"}) for i in range(10)])
        add_segment(conn, "gold", GOLD)
        add_segment(conn, "buyers", RECENT_BUY)
        add_segment(conn, "gold-buyers", {"all": [{"segment": "gold"}, {"segment": "buyers"}]})
        _track(conn, "u1", "buy", T0 - HOUR)
    return clean


def refresh(*args: Any, **kwargs: Any) -> Any:
    """The engine's refresh; these tests step back in time on purpose (the rewind gate has its own tests)."""
    return engine.refresh(*args, rewind=True, **kwargs)


def _by_key(result: Any) -> dict[str, Any]:
    return {s.key: s for s in result.segments}


def test_second_refresh_is_incremental_and_evaluates_only_the_affected(world):
    first = _by_key(refresh(world, None, T0))
    assert {s.mode for s in first.values()} == {"full"} and first["gold"].evaluated == 10
    with world.begin() as conn:
        _track(conn, "u3", "buy", T0 + HOUR / 2)
        set_attributes(conn, "u4", {"tier": "gold"})
    second = _by_key(refresh(world, None, T0 + HOUR))
    assert {k: (s.mode, s.evaluated) for k, s in second.items()} == {
        "gold": ("incremental", 1),  # u4's attributes; u3's event is not read by gold
        "buyers": ("incremental", 3),  # u4 (profile), u3 (event entered), u1 (its T0 − 1 h buy left the window)
        "gold-buyers": ("incremental", 3),  # the membership changes of gold (u4) and buyers (u1, u3)
    }
    assert (second["buyers"].added, second["buyers"].removed) == (1, 1)
    with world.connect() as conn:
        assert members(conn, "buyers") == {"u3"} and members(conn, "gold-buyers") == {"u3"}
    third = _by_key(refresh(world, None, T0 + 3 * HOUR))  # u3's buy leaves the 2-hour window
    assert third["buyers"].mode == "incremental" and third["buyers"].removed == 1
    with world.connect() as conn:
        assert members(conn, "buyers") == set() and members(conn, "gold-buyers") == set()


def test_fallbacks_to_full(world):
    refresh(world, None, T0)
    forced = _by_key(refresh(world, None, T0 + HOUR, force=True))
    assert {s.mode for s in forced.values()} == {"full"}
    with world.begin() as conn:
        set_rules(conn, "gold", {"attribute": "tier", "op": "eq", "value": "silver"})
    changed = _by_key(refresh(world, ["gold"], T0 + 2 * HOUR))
    assert changed["gold"].mode == "full" and changed["gold"].reason == "as_of changed"
    rewound = _by_key(refresh(world, ["buyers"], T0))
    assert rewound["buyers"].mode == "full"
    with world.connect() as conn:
        assert members(conn, "gold") == {f"u{i}" for i in range(0, 10, 2)}


def test_a_write_without_a_data_version_bump_is_seen(world):
    """An edit in psql does not call nextval: the change log still makes the segment stale."""
    refresh(world, ["gold"], T0)
    with world.begin() as conn:
        conn.execute(
            sa.text("UPDATE segpipe.profiles SET attributes = '{\"tier\": \"gold\"}' WHERE external_id = 'u0'")
        )
    result = _by_key(refresh(world, ["gold"], T0))
    assert result["gold"].mode == "incremental" and result["gold"].added == 1


def test_deleted_profiles_leave_incrementally(world):
    refresh(world, None, T0)
    with world.begin() as conn:
        conn.execute(
            sa.text(
                "DELETE FROM segpipe.events"
                " WHERE profile_id = (SELECT id FROM segpipe.profiles WHERE external_id = 'u1')"
            )
        )
        conn.execute(sa.text("DELETE FROM segpipe.profiles WHERE external_id = 'u1'"))
    result = _by_key(refresh(world, None, T0 + HOUR))
    assert result["gold"].mode == "incremental" and result["gold"].removed == 1
    with world.connect() as conn:
        count = conn.execute(
            sa.text(
                "SELECT count(*) FROM segpipe.memberships WHERE profile_id NOT IN (SELECT id FROM segpipe.profiles)"
            )
        )
        assert count.scalar_one() == 0


def _log(conn: sa.Connection) -> tuple[int, int]:
    """(rows in profile_changes, rows below the smallest stored snapshot xmin: those must have been pruned)."""
    query = sa.text(
        "SELECT count(*), count(*) FILTER (WHERE xid < (SELECT min(pg_snapshot_xmin(snapshot))"
        " FROM segpipe.incremental_state)) FROM segpipe.profile_changes"
    )
    total, prunable = conn.execute(query).one()
    return total, prunable


def test_change_logs_are_pruned_to_what_every_segment_consumed(world):
    """Rows below every stored snapshot's xmin are deleted by finish_run; others stay (a transaction anywhere in
    the cluster that was running when a snapshot was taken holds its xmin back, so the count is not asserted)."""
    refresh(world, None, T0)
    with world.connect() as conn:
        assert _log(conn)[1] == 0
    with world.begin() as conn:
        _track(conn, "u2", "buy", T0)
    refresh(world, ["gold"], T0 + HOUR)  # buyers has not consumed u2's event yet: kept
    with world.connect() as conn:
        kept = conn.execute(
            sa.text(
                "SELECT count(*) FROM segpipe.profile_changes WHERE source = 'event:buy'"
                " AND profile_id = (SELECT id FROM segpipe.profiles WHERE external_id = 'u2')"
            )
        )
        assert kept.scalar_one() == 1 and _log(conn)[1] == 0
    refresh(world, None, T0 + HOUR)
    with world.connect() as conn:
        assert _log(conn)[1] == 0


def test_a_state_older_than_the_prune_horizon_refreshes_in_full(world):
    refresh(world, ["gold"], T0)
    with world.begin() as conn:
        conn.execute(sa.text("UPDATE segpipe.change_log_horizon SET below = pg_current_xact_id()"))
        set_attributes(conn, "u0", {"tier": "gold"})
    try:
        result = _by_key(refresh(world, ["gold"], T0 + HOUR))
    finally:  # a horizon above the cluster's xmin would send the module's later tests to full recomputes
        with world.begin() as conn:
            conn.execute(sa.text("UPDATE segpipe.change_log_horizon SET below = '0'"))
    assert result["gold"].mode == "full" and "pruned" in (result["gold"].reason or "")
    assert result["gold"].added == 1


def test_refresh_json_and_table_show_mode_and_evaluated(world, cli):
    cli("refresh", "--all", "--as-of", "2026-03-01T12:00:00Z")
    result = cli("refresh", "--all", "--as-of", "2026-03-01T13:00:00Z", "--json")
    assert result.exit_code == 0, result.output
    rows = {r["key"]: r for r in json.loads(result.stdout)}
    assert (rows["gold"]["mode"], rows["gold"]["evaluated"]) == ("incremental", 0), rows["gold"]
    table = cli("refresh", "--all", "--as-of", "2026-03-01T14:00:00Z", "--force")
    assert "mode" in table.stdout and "evaluated" in table.stdout and "full" in table.stdout


def test_a_lost_change_log_refreshes_in_full(world):
    """Crash recovery empties the unlogged logs and the horizon row: nothing is covered until the next prune."""
    refresh(world, ["gold"], T0)
    with world.begin() as conn:
        set_attributes(conn, "u0", {"tier": "gold"})
        conn.execute(sa.text("TRUNCATE segpipe.profile_changes, segpipe.change_log_horizon"))
    lost = _by_key(refresh(world, ["gold"], T0 + HOUR))
    assert lost["gold"].mode == "full" and lost["gold"].added == 1
    with world.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM segpipe.change_log_horizon")).scalar_one() == 1
    refresh(world, ["gold"], T0 + 2 * HOUR)  # a state stored before that prune may recompute in full once more
    with world.begin() as conn:
        set_attributes(conn, "u0", {"tier": "silver"})
    last = _by_key(refresh(world, ["gold"], T0 + 3 * HOUR))
    assert last["gold"].mode == "incremental" and last["gold"].removed == 1
