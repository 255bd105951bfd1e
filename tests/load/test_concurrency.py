"""Issue 16 point 2, the load parts: concurrent loads of overlapping profiles in opposite orders never deadlock
(no error reaches the user) and end in the state of a serial order; a deletion racing a load leaves no row
linked to a deleted profile (no stragglers)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segpipe.load.loader import load
from segpipe.load.readers import open_source
from tests.load.conftest import CUSTOMER_TABLES
from tests.load.helpers import write_jsonl

PROFILES = 2400
ROUNDS = 4
T0 = "2024-03-01T10:00:00Z"

# The state a load determines: every customer row by its natural values (ids and load times left out).
STATE = {
    "profiles": "SELECT external_id, email, attributes FROM segpipe.profiles",
    "events": "SELECT p.external_id, e.name, e.occurred_at, e.properties, e.event_id"
    " FROM segpipe.events e JOIN segpipe.profiles p ON p.id = e.profile_id",
    "event_ids": "SELECT e.event_id, p.external_id FROM segpipe.event_ids e JOIN segpipe.profiles p"
    " ON p.id = e.profile_id",
    "subscriptions": "SELECT p.external_id, s.channel, s.status, s.updated_at FROM segpipe.subscriptions s"
    " JOIN segpipe.profiles p ON p.id = s.profile_id",
    "activity": "SELECT p.external_id, a.campaign, a.kind, a.occurred_at, a.activity_id FROM segpipe.activity a"
    " JOIN segpipe.profiles p ON p.id = a.profile_id",
}


def _ids(side: str) -> list[str]:
    """Side A covers profiles 0..1999, side B 400..2399 in descending order (1600 shared; the sets differ in size,
    so that hash tables of their keys iterate in different orders)."""
    numbers = range(0, 2000) if side == "a" else range(PROFILES - 1, 399, -1)
    return [f"u{n:04d}" for n in numbers]


def _records(kind: str, side: str) -> list[dict[str, Any]]:
    ids = _ids(side)
    if kind == "profiles":
        return [{"external_id": x, "attributes": {side: True, "last": side}} for x in ids]
    if kind == "events":  # shared event ids: the first load's copy wins
        return [{"external_id": x, "event": side, "occurred_at": T0, "event_id": f"ev-{x}"} for x in ids]
    if kind == "subscriptions":
        return [{"external_id": x, "channel": "email", "status": "subscribed", "updated_at": T0} for x in ids]
    return [{"external_id": x, "campaign": "c", "kind": "sent", "occurred_at": T0} for x in ids]


def _files(tmp_path: Path, kind: str) -> dict[str, Path]:
    return {side: write_jsonl(tmp_path / f"{kind}-{side}.jsonl", _records(kind, side)) for side in "ab"}


def _reset(engine: Engine, kind: str) -> None:
    """Empty the tables, then the profiles every kind's load expects (activity needs known profiles)."""
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE " + ", ".join(f"segpipe.{t}" for t in CUSTOMER_TABLES)))
        if kind in ("profiles", "activity"):  # existing profiles: a profiles load updates them
            values = ", ".join(f"('u{n:04d}', '{{\"seed\": 1}}')" for n in range(PROFILES))
            conn.execute(sa.text(f"INSERT INTO segpipe.profiles (external_id, attributes) VALUES {values}"))


def _state(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {name: sorted(map(tuple, conn.execute(sa.text(sql))), key=repr) for name, sql in STATE.items()}


def _load(engine: Engine, kind: str, path: Path) -> None:
    load(engine, kind, open_source(str(path)))


def _serial_states(engine: Engine, kind: str, files: dict[str, Path]) -> list[dict[str, Any]]:
    states = []
    for order in ("ab", "ba"):
        _reset(engine, kind)
        for side in order:
            _load(engine, kind, files[side])
        states.append(_state(engine))
    return states


@pytest.mark.parametrize("kind", ["profiles", "events", "subscriptions", "activity"])
def test_two_loads_of_one_kind_in_opposite_orders(clean, tmp_path, kind):
    files = _files(tmp_path, kind)
    serial = _serial_states(clean, kind, files)
    for _ in range(ROUNDS):
        _reset(clean, kind)
        with ThreadPoolExecutor(2) as pool:
            for future in [pool.submit(_load, clean, kind, files[side]) for side in "ab"]:
                future.result()  # no deadlock (or any other) error reaches the caller
        assert _state(clean) in serial


def test_loads_of_different_kinds_over_the_same_profiles_in_opposite_orders(clean, tmp_path):
    """Profiles (updating, B order) against events and subscriptions (creating, A order) at the same time."""
    jobs = [("profiles", "b"), ("events", "a"), ("subscriptions", "a"), ("profiles", "a")]
    files = {kind: _files(tmp_path, kind) for kind, _ in jobs}
    _reset(clean, "events")
    for kind, side in jobs:
        _load(clean, kind, files[kind][side])
    expected = _state(clean)
    for _ in range(ROUNDS):
        _reset(clean, "events")
        _load(clean, "profiles", files["profiles"]["b"])  # the B profiles exist, A's new ones are created
        with ThreadPoolExecutor(3) as pool:
            futures = [pool.submit(_load, clean, kind, files[kind][side]) for kind, side in jobs[1:]]
            for future in futures:
                future.result()
        state = _state(clean)
        # attributes depend on which profiles load ran last only for "last"; everything else must be equal
        assert {k: v for k, v in state.items() if k != "profiles"} == {
            k: v for k, v in expected.items() if k != "profiles"
        }
        assert [row[0] for row in state["profiles"]] == [row[0] for row in expected["profiles"]]


def test_two_cli_processes_load_overlapping_files_in_opposite_orders(clean, db_url, settings, tmp_path):
    """Real processes, as users run them: both exit 0, the end state is that of a serial order."""
    files = _files(tmp_path, "events")
    serial = _serial_states(clean, "events", files)
    env = {**os.environ, "SEGPIPE_DATABASE_URL": db_url, "SEGPIPE_HOME": str(settings.home)}
    env["SEGPIPE_ORCHESTRATION"] = "direct"
    segpipe = [sys.executable, "-c", "from segpipe.cli.main import main; main()"]
    for _ in range(2):
        _reset(clean, "events")
        procs = [
            subprocess.Popen([*segpipe, "load", "events", str(files[side])], env=env, stderr=subprocess.PIPE)
            for side in "ab"
        ]
        for proc in procs:
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err.decode()
        assert _state(clean) in serial


def _wait_for_lock_wait(engine: Engine, timeout: float = 20.0) -> None:
    """Until some other session of this database waits for a row lock (the load, behind the deletion)."""
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            if conn.execute(query).scalar_one():
                return
        time.sleep(0.05)
    raise AssertionError("the load never waited for the deletion")


@pytest.mark.parametrize("kind", ["events", "activity"])
def test_a_load_racing_a_deletion_leaves_no_stragglers(clean, tmp_path, kind):
    _reset(clean, "activity")
    records = _records(kind, "a")[:50]
    path = write_jsonl(tmp_path / f"{kind}.jsonl", records)
    errors: list[BaseException] = []
    with clean.connect() as deleter:
        deleter.execute(sa.text("DELETE FROM segpipe.profiles WHERE external_id IN ('u0010', 'u0020')"))

        def run() -> None:
            try:
                load(clean, kind, open_source(str(path)), skip_invalid=True, rejects_path=tmp_path / "r.jsonl")
            except BaseException as exc:  # noqa: BLE001 - reported by the test below
                errors.append(exc)

        loader = threading.Thread(target=run)
        loader.start()
        _wait_for_lock_wait(clean)
        deleter.commit()
        loader.join(60)
    assert not errors
    table = "events" if kind == "events" else "activity"
    orphans = (
        f"SELECT count(*) FROM segpipe.{table} x"
        " WHERE NOT EXISTS (SELECT 1 FROM segpipe.profiles p WHERE p.id = x.profile_id)"
    )
    with clean.connect() as conn:
        assert conn.execute(sa.text(orphans)).scalar_one() == 0
        linked = conn.execute(sa.text(f"SELECT count(*) FROM segpipe.{table}")).scalar_one()
        exists = conn.execute(sa.text("SELECT count(*) FROM segpipe.profiles WHERE external_id = 'u0010'")).scalar_one()
    if kind == "events":  # an event for a deleted profile creates a new one, as after any deletion
        assert (linked, exists) == (50, 1)
    else:  # activity for a deleted profile is an invalid row: rejected, the profile is not re-created
        assert (linked, exists) == (48, 0)
        assert len((tmp_path / "r.jsonl").read_text().splitlines()) == 2


def test_a_deadlock_victim_retries_from_its_savepoint(clean, tmp_path):
    """A session locking profiles in the opposite order (as a deletion's scan may) deadlocks with a load; the
    load is the victim (it waited first), rolls back to its merge's savepoint, retries and succeeds."""
    _reset(clean, "activity")
    path = write_jsonl(tmp_path / "e.jsonl", _records("events", "a")[:10])
    errors: list[BaseException] = []
    lock = "SELECT id FROM segpipe.profiles WHERE external_id = :x FOR UPDATE"
    with clean.connect() as other:
        other.execute(sa.text(lock), {"x": "u0009"})  # the load locks u0000..u0008, then waits here

        def run() -> None:
            try:
                _load(clean, "events", path)
            except BaseException as exc:  # noqa: BLE001 - reported by the test below
                errors.append(exc)

        loader = threading.Thread(target=run)
        loader.start()
        _wait_for_lock_wait(clean)
        other.execute(sa.text(lock), {"x": "u0000"})  # closes the cycle; the load is aborted first
        other.commit()
        loader.join(60)
    assert not errors
    with clean.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM segpipe.events")).scalar_one() == 10
