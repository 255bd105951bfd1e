"""Contract §7 "Idempotent loads": loading the same file twice changes nothing the second time; activity is
unique on its key; activity for an unknown external_id is an invalid row (issue 11 point 6)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from tests.load.conftest import CUSTOMER_TABLES
from tests.load.helpers import counts, data_version, load_json, profile, rows, write_jsonl

T0 = "2024-03-01T10:00:00Z"
PROFILES = [
    {"external_id": "p1", "email": "p1@x.io", "attributes": {"plan": "pro", "n": 1}},
    {"external_id": "p2", "attributes": {"plan": "free"}},
    {"external_id": "p1", "attributes": {"n": None, "seen": True}},
]
EVENTS = [
    {"external_id": "p1", "event": "buy", "occurred_at": T0, "properties": {"v": 1}, "event_id": "e1"},
    {"external_id": "p3", "event": "buy", "occurred_at": T0, "event_id": "e2"},
    {"external_id": "p2", "event": "view", "occurred_at": T0, "event_id": "e1"},
]
SUBSCRIPTIONS = [
    {"external_id": "p1", "channel": "email", "status": "unsubscribed", "updated_at": T0},
    {"external_id": "p4", "channel": "sms", "status": "subscribed", "updated_at": T0},
    {"external_id": "p1", "channel": "email", "status": "unsubscribed", "updated_at": T0},
]
ACTIVITY = [
    {"external_id": "p1", "campaign": "c", "kind": "sent", "occurred_at": T0},
    {"external_id": "p1", "campaign": "c", "kind": "sent", "occurred_at": T0},
    {"external_id": "p2", "campaign": "c", "kind": "open", "occurred_at": T0},
    {"external_id": "p2", "campaign": "c", "kind": "open", "occurred_at": T0, "activity_id": "a-1"},
    {"external_id": "p2", "campaign": "c", "kind": "open", "occurred_at": T0, "activity_id": "a-2"},
    {"external_id": "p1", "campaign": "c", "kind": "click", "occurred_at": T0, "activity_id": "a-2"},
]


def _snapshot(engine: sa.Engine) -> dict[str, Any]:
    """Every row of every customer table (all columns), the data version, and the campaign's statistics."""
    state: dict[str, Any] = {}
    with engine.connect() as conn:
        for table in CUSTOMER_TABLES:
            state[table] = conn.execute(sa.text(f"SELECT to_jsonb(t)::text FROM segpipe.{table} t ORDER BY 1")).all()
    state["data_version"] = data_version(engine)
    return state


def _stats(cli: Any, key: str) -> dict[str, int]:
    result = cli("campaign", "stats", key, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _parquet(path: Path, records: list[dict[str, Any]]) -> Path:
    names = list(dict.fromkeys(name for record in records for name in record))  # from_pylist reads row 1 only
    pq.write_table(pa.table({name: [r.get(name) for r in records] for name in names}), path)
    return path


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_loading_each_kind_twice_changes_nothing_the_second_time(clean, cli, tmp_path, fmt):
    files = {"profiles": PROFILES, "events": EVENTS, "subscriptions": SUBSCRIPTIONS, "activity": ACTIVITY}
    for kind, records in files.items():
        if fmt == "parquet" and kind in ("profiles", "events"):
            records = [{k: json.dumps(v) if isinstance(v, dict) else v for k, v in r.items()} for r in records]
        path = tmp_path / f"{kind}.{fmt}"
        path = write_jsonl(path, records) if fmt == "jsonl" else _parquet(path, records)
        first = load_json(cli, kind, path)
        before, stats = _snapshot(clean), _stats(cli, "c") if kind == "activity" else None
        second = load_json(cli, kind, path)
        assert _snapshot(clean) == before, kind
        assert second["inserted"] == second["updated"] == second["profiles_created"] == 0, kind
        known = first["inserted"] + first["updated"] + first["already_known"]
        if kind == "events":  # the same rows again: every valid row is known (load/ledger.py)
            known = first["rows"] - first["rejected"]
        assert second["already_known"] == known, kind
        if stats is not None:
            assert _stats(cli, "c") == stats
    assert _stats(cli, "c") == {"sent": 1, "delivered": 0, "open": 3, "click": 0, "bounce": 0, "unsubscribe": 0}


def test_activity_keys_and_counts(clean, cli, tmp_path):
    load_json(cli, "profiles", write_jsonl(tmp_path / "p.jsonl", [{"external_id": "p1"}, {"external_id": "p2"}]))
    out = load_json(cli, "activity", write_jsonl(tmp_path / "a.jsonl", ACTIVITY))
    # rows 2 (same natural key as row 1) and 6 (same activity_id as row 5) repeat earlier rows
    assert (out["inserted"], out["already_known"], out["skipped_duplicates"]) == (4, 0, 2)
    stored = rows(clean, "SELECT kind, activity_id FROM segpipe.activity ORDER BY id")
    assert stored == [("sent", None), ("open", None), ("open", "a-1"), ("open", "a-2")]
    # one new row, one known by natural key, one known by activity_id although its other values differ
    more = [ACTIVITY[0], {**ACTIVITY[0], "kind": "bounce"}, {**ACTIVITY[5], "kind": "sent"}]
    out = load_json(cli, "activity", write_jsonl(tmp_path / "b.jsonl", more))
    assert (out["inserted"], out["already_known"], out["skipped_duplicates"]) == (1, 2, 2)
    text = cli("load", "activity", str(tmp_path / "b.jsonl"))
    assert "0 new, 0 updated, 3 already known" in text.stdout


def test_activity_for_an_unknown_external_id_is_an_invalid_row(clean, cli, tmp_path):
    load_json(cli, "profiles", write_jsonl(tmp_path / "p.jsonl", [{"external_id": "p1"}]))
    records = [ACTIVITY[0], {**ACTIVITY[2], "external_id": "ghost"}, {**ACTIVITY[0], "kind": "open"}]
    path = write_jsonl(tmp_path / "a.jsonl", [*records, {**records[1], "external_id": "ghost2"}])
    version = data_version(clean)
    result = cli("load", "activity", str(path))
    assert result.exit_code == 2
    assert result.stderr == f"error: {path}:2: unknown external_id 'ghost': activity is loaded only for existing " \
        "profiles (load the profile first)\n"  # fmt: skip
    assert counts(clean)["activity"] == 0 and profile(clean, "ghost") is None and data_version(clean) == version
    # rows that cannot be read are found while reading, before the ids are looked up
    path = write_jsonl(tmp_path / "a.jsonl", [*records[:2], "not json", records[2]])
    assert cli("load", "activity", str(path)).stderr.startswith(f"error: {path}:3: malformed JSON")

    out = json.loads(cli("load", "activity", str(path), "--skip-invalid", "--json").stdout)
    assert (out["rows"], out["inserted"], out["rejected"], out["profiles_created"]) == (4, 2, 2, 0)
    rejects = [json.loads(line) for line in Path(out["rejects_file"]).read_text().splitlines()]
    assert [r["row"] for r in rejects] == [3, 2]  # read errors first, then unknown ids
    assert rejects[1]["record"] == {
        "external_id": "ghost",
        "campaign": "c",
        "kind": "open",
        "occurred_at": "2024-03-01T10:00:00+00:00",
    }
    assert "unknown external_id 'ghost'" in rejects[1]["reason"]
    assert profile(clean, "ghost") is None and counts(clean)["profiles"] == 1


def test_a_reload_after_a_deletion_keeps_the_statistics_and_does_not_recreate_the_profile(clean, cli, tmp_path):
    load_json(cli, "profiles", write_jsonl(tmp_path / "p.jsonl", [{"external_id": "p1"}, {"external_id": "p2"}]))
    path = write_jsonl(tmp_path / "a.jsonl", ACTIVITY)
    load_json(cli, "activity", path)
    stats = _stats(cli, "c")
    with clean.begin() as conn:  # what a profile deletion does to activity
        conn.execute(
            sa.text(
                "UPDATE segpipe.activity SET profile_id = NULL, anonymized_at = now()"
                " WHERE profile_id = (SELECT id FROM segpipe.profiles WHERE external_id = 'p2')"
            )
        )
        conn.execute(sa.text("DELETE FROM segpipe.profiles WHERE external_id = 'p2'"))
    assert _stats(cli, "c") == stats
    result = cli("load", "activity", str(path), "--skip-invalid", "--json")
    out = json.loads(result.stdout)
    assert result.exit_code == 2 and (out["inserted"], out["rejected"]) == (0, 3)
    assert _stats(cli, "c") == stats and profile(clean, "p2") is None


def test_migration_0015_keeps_the_first_of_existing_duplicates(clean):
    """The migration runs on a database that already holds repeated activity (a file loaded twice)."""
    script = (Path(__file__).parents[2] / "sql" / "0015_idempotent_loads.sql").read_text()
    with clean.begin() as conn:
        conn.execute(sa.text("ALTER TABLE segpipe.activity DROP COLUMN activity_id"))  # and its two indexes
        ids = conn.execute(sa.text("INSERT INTO segpipe.profiles (external_id) VALUES ('d1'), ('d2') RETURNING id"))
        insert = sa.text(
            "INSERT INTO segpipe.activity (profile_id, campaign, kind, occurred_at, anonymized_at)"
            " VALUES (:p, 'm', :k, '2024-01-01', CASE WHEN CAST(:p AS bigint) IS NULL THEN now() END)"
        )
        for pid in [*ids.scalars(), None]:
            for kind in ("sent", "open", "sent", "open", "sent"):
                conn.execute(insert, {"p": pid, "k": kind})
        query = "SELECT min(id) FROM segpipe.activity WHERE profile_id IS NOT NULL GROUP BY profile_id, kind"
        firsts = set(conn.execute(sa.text(query)).scalars())
        conn.exec_driver_sql(script)
    kept = rows(clean, "SELECT id FROM segpipe.activity WHERE profile_id IS NOT NULL")
    assert {i for (i,) in kept} == firsts  # the first copy of each key, of 2 profiles x 2 kinds
    assert rows(clean, "SELECT count(*) FROM segpipe.activity WHERE profile_id IS NULL") == [(5,)]  # all kept
    names = "('activity_natural_key', 'activity_activity_id_key')"
    assert rows(clean, f"SELECT count(*) FROM pg_indexes WHERE indexname IN {names}") == [(2,)]


def test_events_without_event_id_load_once_per_content(clean, cli, tmp_path):
    """Events without an id append (contract §2), yet the same file loaded again changes nothing (§7): the load
    recognises rows it has loaded before by their digest (`load/ledger.py`); other content still appends."""
    records = [
        {"external_id": "q1", "event": "tap", "occurred_at": T0},
        {"external_id": "q1", "event": "tap", "occurred_at": T0},
        {"external_id": "q2", "event": "tap", "occurred_at": T0, "properties": {"n": 1}},
    ]
    path = write_jsonl(tmp_path / "taps.jsonl", records)
    assert load_json(cli, "events", path)["inserted"] == 3
    before = _snapshot(clean)
    again = load_json(cli, "events", path)
    assert _snapshot(clean) == before
    assert again["inserted"] == again["profiles_created"] == 0 and again["already_known"] == 3
    as_csv = tmp_path / "taps.csv"
    as_csv.write_text(f"external_id,event,occurred_at\nq1,tap,{T0}\n", encoding="utf-8")
    assert load_json(cli, "events", as_csv)["inserted"] == 1  # new content: appends
    assert load_json(cli, "events", as_csv)["inserted"] == 0
    with clean.connect() as conn:
        taps = conn.execute(sa.text("SELECT count(*) FROM segpipe.events WHERE name = 'tap'")).scalar_one()
    assert taps == 4
