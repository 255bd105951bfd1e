"""Issue 11.4-5: the count gate (held refresh, --accept-drop) and live membership only moving forward (--rewind,
as-of evaluation without storing), through the real CLI and engine on real Postgres."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from segpipe.refresh.engine import finish_run, plan_refresh, refresh, refresh_segment, start_run
from tests.flows.helpers import write_jsonl
from tests.refresh.helpers import members

OBJECTS = """
kind: Segment
key: de
name: Germany
rules: {attribute: country, op: eq, value: DE}
---
kind: Segment
key: de-pro
name: German pros
rules: {all: [{segment: de}, {attribute: plan, op: eq, value: pro}]}
---
kind: Segment
key: guarded
name: Guarded Germans
guard: {max_drop: 0.2}
rules: {attribute: country, op: eq, value: DE}
---
kind: Campaign
key: bf
name: Black Friday
status: {status}
include: [de, guarded]
"""
IDS = [f"u{i:02d}" for i in range(1, 11)]
HELD = "refresh held: de would remove 9 of 10 members (90% > max_drop 50%); rerun with --accept-drop"


def _load(cli: Any, folder: Path, countries: dict[str, str]) -> None:
    rows = [{"external_id": x, "attributes": {"country": c, "plan": "pro"}} for x, c in countries.items()]
    result = cli("load", "profiles", str(write_jsonl(folder / "profiles.jsonl", rows)))
    assert result.exit_code == 0, result.output


def _apply(cli: Any, folder: Path, campaign_status: str = "scheduled") -> None:
    (folder / "objects.yaml").write_text(textwrap.dedent(OBJECTS.replace("{status}", campaign_status)).lstrip())
    result = cli("apply", str(folder / "objects.yaml"))
    assert result.exit_code == 0, result.output


def _world(cli: Any, folder: Path, campaign_status: str = "scheduled") -> None:
    """Ten German pros; segments de, de-pro (references de), guarded (max_drop 0.2); campaign bf includes de."""
    _load(cli, folder, dict.fromkeys(IDS, "DE"))
    _apply(cli, folder, campaign_status)
    result = cli("refresh", "de", "de-pro", "guarded", "--as-of", "2026-06-01T00:00:00Z")
    assert result.exit_code == 0, result.output


def _segment(engine: Any, key: str) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM segpipe.segments WHERE key = :k"), {"k": key})
        return dict(row.mappings().one())


def _events(engine: Any, key: str) -> list[dict[str, Any]]:
    query = sa.text(
        "SELECT e.action, e.actor, e.detail FROM segpipe.segment_events e JOIN segpipe.segments s"
        " ON s.id = e.segment_id WHERE s.key = :k ORDER BY e.id"
    )
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query, {"k": key}).mappings()]


def _count(engine: Any, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM segpipe.{table}")).scalar_one()


def _rows(result: Any) -> dict[str, dict[str, Any]]:
    return {row["key"]: row for row in json.loads(result.stdout)}


def test_a_live_segment_losing_90_percent_is_held_until_accepted(clean, cli, tmp_path):
    _world(cli, tmp_path)
    before = _segment(clean, "de")
    _load(cli, tmp_path, {x: "FR" for x in IDS[1:]})
    held = cli("refresh", "de", "de-pro", "--as-of", "2026-07-01T00:00:00Z", "--json")
    assert held.exit_code == 3, held.output
    assert held.stderr.strip() == f"error: {HELD}"
    rows = _rows(held)
    assert {k: rows["de"][k] for k in ("status", "member_count", "added", "removed")} == {
        "status": "held",
        "member_count": 1,
        "added": 0,
        "removed": 9,
    }
    assert rows["de-pro"]["status"] == "skipped" and rows["de-pro"]["reason"] == "dependency held"
    with clean.connect() as conn:
        assert members(conn, "de") == set(IDS) and members(conn, "de-pro") == set(IDS)
    after = _segment(clean, "de")
    for column in ("member_count", "last_refreshed_at", "last_refresh_as_of", "refreshed_data_version"):
        assert after[column] == before[column]
    with clean.connect() as conn:
        stored = conn.execute(
            sa.text(
                "SELECT r.status, r.member_count, r.added, r.removed, r.reason FROM segpipe.segment_refreshes r"
                " JOIN segpipe.segments s ON s.id = r.segment_id WHERE s.key = 'de' ORDER BY r.id DESC LIMIT 1"
            )
        ).one()
    assert tuple(stored[:4]) == ("held", 1, 0, 9) and "would remove 9 of 10" in stored.reason
    (event,) = [e for e in _events(clean, "de") if e["action"] == "held"]
    assert event["detail"]["removed"] == 9 and event["detail"]["stored"] == 10 and event["actor"]
    export = cli("segment", "members", "de", "--as-of", "2026-07-01T00:00:00Z")
    assert export.exit_code == 3 and HELD in export.stderr and export.stdout == ""

    accepted = cli("refresh", "de", "--as-of", "2026-07-01T00:00:00Z", "--accept-drop", "--json")
    assert accepted.exit_code == 0, accepted.output
    assert _rows(accepted)["de"]["status"] == "succeeded" and _rows(accepted)["de"]["removed"] == 9
    with clean.connect() as conn:
        assert members(conn, "de") == {"u01"}
    (audit,) = [e for e in _events(clean, "de") if e["action"] == "drop_accepted"]
    assert audit["actor"] and (audit["detail"]["removed"], audit["detail"]["stored"]) == (9, 10)


def test_the_same_drop_without_a_live_use_is_published(clean, cli, tmp_path):
    _world(cli, tmp_path, campaign_status="draft")
    _load(cli, tmp_path, {x: "FR" for x in IDS[1:]})
    result = cli("refresh", "de", "--as-of", "2026-07-01T00:00:00Z", "--json")
    assert result.exit_code == 0, result.output
    assert _rows(result)["de"]["removed"] == 9
    with clean.connect() as conn:
        assert members(conn, "de") == {"u01"}
    assert not [e for e in _events(clean, "de") if e["action"] in ("held", "drop_accepted")]


def test_a_segment_guard_holds_a_30_percent_drop(clean, cli, tmp_path):
    _world(cli, tmp_path)
    _load(cli, tmp_path, {x: "FR" for x in IDS[:3]})
    held = cli("refresh", "guarded", "de", "--as-of", "2026-07-01T00:00:00Z", "--json")
    assert held.exit_code == 3, held.output
    assert "guarded would remove 3 of 10 members (30% > max_drop 20%)" in held.stderr
    rows = _rows(held)
    assert rows["guarded"]["status"] == "held" and rows["de"]["status"] == "succeeded"  # 30% ≤ the default 50%
    _load(cli, tmp_path, {"u01": "DE"})
    at_limit = cli("refresh", "guarded", "--as-of", "2026-08-01T00:00:00Z", "--json")
    assert at_limit.exit_code == 0, at_limit.output  # 2 of 10 = 20%: not more than max_drop 0.2
    assert _rows(at_limit)["guarded"]["removed"] == 2


def test_a_deletion_refresh_is_never_held(clean, cli, tmp_path):
    _world(cli, tmp_path)
    _load(cli, tmp_path, {x: "FR" for x in IDS[1:]})
    with clean.begin() as conn:
        plan = plan_refresh(conn, ["de"])
        run_id = start_run(conn, plan, trigger="deletion")
    result = refresh_segment(clean, run_id, "de", plan.as_of)
    with clean.begin() as conn:
        finish_run(conn, run_id)
    assert (result.status, result.removed) == ("succeeded", 9)


@pytest.mark.parametrize(
    ("guard", "message"),
    [
        ("{max_drop: 1.5}", "guard.max_drop: must be between 0 and 1"),
        ("{max_drop: -0.1}", "guard.max_drop: must be between 0 and 1"),
        ("{max_drop: lots}", "guard.max_drop"),
        ("{max_dropp: 0.2}", "missing required field 'guard.max_drop'"),
    ],
)
def test_guard_validation(clean, cli, tmp_path, guard, message):
    path = tmp_path / "bad.yaml"
    path.write_text(f"kind: Segment\nkey: g\nname: G\nguard: {guard}\nrules: {{attribute: a, op: exists}}\n")
    result = cli("apply", str(path))
    assert result.exit_code == 2 and message in result.output


def test_a_guard_change_is_an_update(clean, cli, tmp_path):
    _world(cli, tmp_path)
    path = tmp_path / "objects.yaml"
    path.write_text(path.read_text().replace("max_drop: 0.2", "max_drop: 0.9"))
    result = cli("apply", str(path), "--json")
    assert result.exit_code == 0, result.output
    assert "updated" in result.stdout and _segment(clean, "guarded")["max_drop"] == 0.9


# --- time only moves forward ---------------------------------------------------------------------------------

PAST, LIVE = "2026-03-01T00:00:00Z", "2026-06-01T00:00:00Z"


def test_a_refresh_at_an_earlier_as_of_is_refused_unless_rewind(clean, cli, tmp_path):
    _world(cli, tmp_path)
    runs_before = _count(clean, "refresh_runs")
    refused = cli("refresh", "de", "--as-of", PAST, "--json")
    assert refused.exit_code == 3, refused.output
    error = json.loads(refused.stdout)
    assert error["gate"] == "rewind" and "2026-06-01T00:00:00+00:00" in error["error"] and "'de'" in error["error"]
    everything = cli("refresh", "--all", "--as-of", PAST)
    assert everything.exit_code == 3 and "--rewind" in everything.stderr
    assert _count(clean, "refresh_runs") == runs_before
    assert _segment(clean, "de")["last_refresh_as_of"].isoformat() == "2026-06-01T00:00:00+00:00"

    rewound = cli("refresh", "de", "--as-of", PAST, "--rewind", "--json")
    assert rewound.exit_code == 0, rewound.output
    with clean.connect() as conn:
        flag = conn.execute(sa.text("SELECT rewind FROM segpipe.refresh_runs ORDER BY id DESC LIMIT 1")).scalar_one()
    assert flag is True
    assert _segment(clean, "de")["last_refresh_as_of"].isoformat() == "2026-03-01T00:00:00+00:00"
    (event,) = [e for e in _events(clean, "de") if e["action"] == "rewound"]
    assert event["detail"] == {"from": "2026-06-01T00:00:00+00:00", "to": "2026-03-01T00:00:00+00:00"}
    assert cli("refresh", "--all", "--as-of", "2026-02-01T00:00:00Z", "--rewind").exit_code == 0


def test_the_scheduled_refresh_never_rewinds(clean, cli, tmp_path):
    _world(cli, tmp_path)
    result = refresh(clean, None, as_of=None, trigger="schedule", rewind=True)  # now < the future as_of below
    assert {s.status for s in result.segments} == {"succeeded"}
    with clean.begin() as conn:
        conn.execute(
            sa.text("UPDATE segpipe.segments SET last_refresh_as_of = '2999-01-01T00:00:00Z' WHERE key = 'de'")
        )
    result = refresh(clean, None, as_of=None, trigger="schedule", rewind=True)
    statuses = {s.key: (s.status, s.reason) for s in result.segments}
    assert statuses["de"] == ("skipped", "not rewound: live as of 2999-01-01T00:00:00+00:00")
    assert statuses["de-pro"] == ("skipped", "dependency de not rewound")
    assert statuses["guarded"][0] == "succeeded"
    assert not result.rewind


EVENTS = [
    {"external_id": "u01", "event": "purchase", "occurred_at": "2026-02-01T00:00:00Z"},
    {"external_id": "u02", "event": "purchase", "occurred_at": "2026-05-01T00:00:00Z"},
]
BUYERS = """
kind: Segment
key: buyers
name: Buyers
rules: {event: purchase}
---
kind: Segment
key: subscribed-buyers
name: Subscribed buyers
rules: {all: [{segment: buyers}, {subscription: email, status: subscribed}]}
---
kind: Campaign
key: promo
name: Promo
status: scheduled
include: [subscribed-buyers]
"""


def _buyers(cli: Any, folder: Path) -> None:
    _load(cli, folder, {"u01": "DE", "u02": "DE", "u03": "DE"})
    assert cli("load", "events", str(write_jsonl(folder / "events.jsonl", EVENTS))).exit_code == 0
    (folder / "buyers.yaml").write_text(textwrap.dedent(BUYERS).lstrip())
    assert cli("apply", str(folder / "buyers.yaml")).exit_code == 0
    assert cli("refresh", "subscribed-buyers", "--as-of", LIVE).exit_code == 0


def _live_state(engine: Any) -> tuple[Any, ...]:
    query = sa.text(
        "SELECT (SELECT array_agg(ROW(segment_id, profile_id)::text ORDER BY 1) FROM segpipe.memberships),"
        " (SELECT array_agg(ROW(key, member_count, last_refresh_as_of, last_refreshed_at)::text ORDER BY 1)"
        "  FROM segpipe.segments),"
        " (SELECT count(*) FROM segpipe.refresh_runs), (SELECT count(*) FROM segpipe.segment_refreshes)"
    )
    with engine.connect() as conn:
        return tuple(conn.execute(query).one())


def test_members_as_of_the_past_evaluates_without_storing(clean, cli, tmp_path):
    _buyers(cli, tmp_path)
    live = _live_state(clean)
    past = cli("segment", "members", "subscribed-buyers", "--as-of", PAST)
    assert past.exit_code == 0, past.output
    assert [line.split(",")[0] for line in past.stdout.splitlines()] == ["external_id", "u01"]
    summary = cli("segment", "members", "buyers", "--as-of", PAST, "--output", str(tmp_path / "b.csv"), "--json")
    assert json.loads(summary.stdout)["rows"] == 1 and json.loads(summary.stdout)["evaluated"] is True
    assert _live_state(clean) == live
    now = cli("segment", "members", "subscribed-buyers", "--as-of", LIVE)
    assert [line.split(",")[0] for line in now.stdout.splitlines()] == ["external_id", "u01", "u02"]


def test_presend_as_of_the_past_snapshots_an_evaluation(clean, cli, tmp_path):
    _buyers(cli, tmp_path)
    live = _live_state(clean)
    result = cli("presend", "promo", "--as-of", PAST, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["count"] == 1 and data["as_of"].startswith("2026-03-01") and data["refresh_run_id"] is None
    assert _live_state(clean) == live
    with clean.connect() as conn:
        ids = conn.execute(
            sa.text(
                "SELECT p.external_id FROM segpipe.snapshot_members m JOIN segpipe.profiles p ON p.id = m.profile_id"
                " WHERE m.snapshot_id = :s"
            ),
            {"s": data["snapshot_id"]},
        ).scalars()
        assert set(ids) == {"u01"}
    later = cli("presend", "promo", "--as-of", "2026-07-01T00:00:00Z", "--max-change", "5", "--json")
    assert later.exit_code == 0, later.output
    assert json.loads(later.stdout)["count"] == 2 and json.loads(later.stdout)["refresh_run_id"] is not None
