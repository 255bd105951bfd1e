"""Contract §7 "Idempotent loads" (issue 11.6), through the CLI: loading the same file twice changes nothing the
second time; activity rows are unique on `external_id, campaign, kind, occurred_at` (or `activity_id` when
given); activity for an unknown external_id is an invalid row (file:row, exit 2, nothing written)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.acceptance.blackbox import Segpipe, error_line

TABLES = ("profiles", "events", "event_ids", "subscriptions", "activity")


@pytest.fixture()
def sp(cli, tmp_path) -> Segpipe:
    return Segpipe(cli, tmp_path)


def snapshot(engine: Engine) -> dict[str, Any]:
    """Every row (as text, sorted) of the tables a load writes, and the row versions (xmin) they carry."""
    out = {}
    with engine.connect() as conn:
        for table in TABLES:
            query = (
                f"SELECT coalesce(string_agg(t::text || xmin::text, '|' ORDER BY t::text), '') FROM segpipe.{table} t"
            )
            out[table] = conn.execute(sa.text(query)).scalar()
    return out


def write(sp: Segpipe, kind: str, fmt: str, records: list[dict[str, Any]]) -> Path:
    if fmt == "jsonl":
        return sp.jsonl(records)
    if fmt == "parquet":
        flat = [{k: json.dumps(v) if isinstance(v, dict) else v for k, v in r.items()} for r in records]
        return sp.parquet(flat, pa.Table.from_pylist(flat).schema)
    header = sorted({k for r in records for k in r})
    rows = [[json.dumps(r[k]) if isinstance(r.get(k), dict) else r.get(k, "") for k in header] for r in records]
    return sp.csv(header, rows)


def files(sp: Segpipe) -> dict[str, list[dict[str, Any]]]:
    a, b, camp = sp.id("a"), sp.id("b"), sp.tag + "camp"
    t = "2026-01-0{}T10:00:00Z".format
    return {
        "profiles": [
            {"external_id": a, "email": "a@x.test", "attributes": {"tier": "gold", "n": 1}},
            {"external_id": b, "attributes": {"tier": "silver"}},
            {"external_id": a, "attributes": {"n": None, "m": 2}},
        ],
        "events": [
            {"external_id": a, "event": "buy", "occurred_at": t(1), "properties": {"v": 1}, "event_id": sp.tag + "1"},
            {"external_id": b, "event": "buy", "occurred_at": t(2), "properties": {"v": 2}, "event_id": sp.tag + "2"},
            {"external_id": b, "event": "visit", "occurred_at": t(3), "properties": {"page": "/"}},
        ],
        "subscriptions": [
            {"external_id": a, "channel": "email", "status": "unsubscribed", "updated_at": t(1)},
            {"external_id": a, "channel": "email", "status": "subscribed", "updated_at": t(2)},
            {"external_id": b, "channel": "sms", "status": "unsubscribed", "updated_at": t(3)},
        ],
        "activity": [
            {"external_id": a, "campaign": camp, "kind": "sent", "occurred_at": t(1)},
            {"external_id": a, "campaign": camp, "kind": "open", "occurred_at": t(2)},
            {"external_id": b, "campaign": camp, "kind": "sent", "occurred_at": t(1)},
            {"external_id": b, "campaign": camp, "kind": "click", "occurred_at": t(3)},
        ],
    }


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_loading_every_kind_twice_changes_nothing_the_second_time(sp: Segpipe, engine: Engine, fmt: str) -> None:
    paths = {kind: write(sp, kind, fmt, records) for kind, records in files(sp).items()}
    for kind, path in paths.items():
        first = sp.load(kind, path)
        assert first["rows"] == len(files(sp)[kind]) or kind == "profiles", first
    camp = sp.tag + "camp"
    stats = sp.ok("campaign", "stats", camp)
    assert (stats["sent"], stats["open"], stats["click"]) == (2, 1, 1)
    before = snapshot(engine)
    for kind, path in paths.items():
        again = sp.load(kind, path)
        assert again["inserted"] == 0 and again.get("updated", 0) == 0, (kind, again)
        assert again["already_known"] >= 1, (kind, again)
        if kind in ("events", "subscriptions", "activity"):
            assert again["already_known"] == len(files(sp)[kind]), (kind, again)
    assert snapshot(engine) == before
    assert sp.ok("campaign", "stats", camp) == stats


def test_the_second_load_says_how_many_rows_were_already_known(sp: Segpipe) -> None:
    path = sp.jsonl(files(sp)["profiles"])
    sp.load("profiles", path)
    activity = sp.jsonl(files(sp)["activity"])
    sp.load("activity", activity)
    text = sp.run("load", "activity", activity)
    assert text.exit_code == 0 and "4 already known" in text.stdout, text.stdout


def test_activity_is_unique_on_its_natural_key_across_loads(sp: Segpipe) -> None:
    sp.profiles("a")
    camp = sp.tag + "camp"
    row = {"external_id": sp.id("a"), "campaign": camp, "kind": "open", "occurred_at": "2026-01-01T10:00:00Z"}
    sp.load_rows("activity", [row])
    # the same instant written another way is the same key; another instant or kind is another row
    same = {**row, "occurred_at": "2026-01-01T11:00:00+01:00"}
    out = sp.load_rows("activity", [same, {**row, "occurred_at": "2026-01-01T10:00:01Z"}, {**row, "kind": "click"}])
    assert (out["inserted"], out["already_known"]) == (2, 1)
    assert sp.ok("campaign", "stats", camp)["open"] == 2


def test_activity_id_identifies_a_row_when_given(sp: Segpipe) -> None:
    sp.profiles("a")
    camp = sp.tag + "camp"
    row = {"external_id": sp.id("a"), "campaign": camp, "kind": "open", "occurred_at": "2026-01-01T10:00:00Z"}
    first = sp.load_rows("activity", [{**row, "activity_id": sp.tag + "1"}, {**row, "activity_id": sp.tag + "2"}])
    assert first["inserted"] == 2  # two opens at one instant, told apart by their ids
    again = sp.load_rows("activity", [{**row, "activity_id": sp.tag + "2"}, {**row, "activity_id": sp.tag + "3"}])
    assert (again["inserted"], again["already_known"]) == (1, 1)
    assert sp.ok("campaign", "stats", camp)["open"] == 3


def test_activity_for_an_unknown_external_id_is_an_invalid_row(sp: Segpipe, engine: Engine) -> None:
    sp.profiles("a")
    camp = sp.tag + "camp"
    good = {"external_id": sp.id("a"), "campaign": camp, "kind": "sent", "occurred_at": "2026-01-01T10:00:00Z"}
    path = sp.jsonl([good, {**good, "external_id": sp.id("stranger")}])
    before = snapshot(engine)
    result = sp.run("load", "activity", path)
    assert result.exit_code == 2
    line = error_line(result)
    assert line.startswith(f"error: {path}:2: ") and sp.id("stranger") in line, line
    assert snapshot(engine) == before  # atomic: not even the valid row, and no new profile

    as_json = sp.run("load", "activity", path, "--json")
    assert as_json.exit_code == 2 and "error" in json.loads(as_json.stdout)

    skipped = sp.run("load", "activity", path, "--skip-invalid", "--json")
    assert skipped.exit_code == 2, skipped.output
    out = json.loads(skipped.stdout)
    assert out["rejected"] == 1 and Path(out["rejects_file"]).parent == path.parent
    assert sp.ok("campaign", "stats", camp)["sent"] == 1
    with engine.connect() as conn:
        found = conn.execute(
            sa.text("SELECT count(*) FROM segpipe.profiles WHERE external_id = :e"), {"e": sp.id("stranger")}
        ).scalar()
    assert found == 0
    # the usual fix after a --skip-invalid run: load the file again once the profile exists; nothing counts twice
    sp.profiles("stranger")
    sp.load("activity", path)
    assert sp.ok("campaign", "stats", camp)["sent"] == 2


def test_the_same_events_file_without_event_ids_loaded_twice_changes_nothing(sp: Segpipe, engine: Engine) -> None:
    rows = [{"external_id": sp.id("a"), "event": "visit", "occurred_at": "2026-01-01T10:00:00Z"}]
    path = sp.jsonl(rows)
    sp.load("events", path)
    before = snapshot(engine)
    sp.load("events", path)
    assert snapshot(engine) == before
    again = sp.load("events", write(sp, "events", "csv", rows))  # the same rows in another format
    assert again["inserted"] == 0 and again["already_known"] == 1
    assert snapshot(engine) == before
