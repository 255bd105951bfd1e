"""Contract §7 "Time only moves forward", through the CLI only (issue 11.5).

`refresh --as-of T` earlier than a segment's last refresh: exit 3 (naming the stored as_of) unless `--rewind`.
`segment members --as-of T` and `presend --as-of T` earlier than the live state evaluate without changing live
membership.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from tests.acceptance.contract_driver import Driver, campaign, seg

EARLY = "2026-03-02T00:00:00Z"  # a bought 2026-03-01 (within 3 days), b not yet
LATE = "2026-03-11T00:00:00Z"  # b bought 2026-03-10 (within 3 days), a's purchase is too old


@pytest.fixture()
def sp(cli, tmp_path) -> Driver:
    return Driver(cli, tmp_path)


def world(sp: Driver) -> tuple[str, str]:
    """Segment `buyers` (purchase within 3 days), its dependent `fans`, a scheduled campaign; refreshed at LATE."""
    rows = [
        {"external_id": sp.k("a"), "event": "purchase", "occurred_at": "2026-03-01T12:00:00Z"},
        {"external_id": sp.k("b"), "event": "purchase", "occurred_at": "2026-03-10T12:00:00Z"},
        {"external_id": sp.k("c"), "event": "visit", "occurred_at": "2026-03-01T12:00:00Z"},
    ]
    sp.ok("load", "events", sp.file("events.jsonl", "".join(json.dumps(r) + "\n" for r in rows)))
    scope = {"attribute": "external_id", "op": "starts_with", "value": sp.tag}
    buyers, fans = sp.k("buyers"), sp.k("fans")
    rules = {"all": [scope, {"event": "purchase", "within": {"days": 3}}]}
    # max_drop 1: these tests are about time, not the count gate (b replaces a: 100% of the members change)
    sp.apply(
        seg(buyers, rules=rules, guard={"max_drop": 1}),
        seg(fans, rules={"segment": buyers}, guard={"max_drop": 1}),
        campaign(sp.k("promo"), "scheduled", include=[fans]),
    )
    rows_ = {r["key"]: r for r in sp.ok("refresh", buyers, fans, "--as-of", LATE)}
    assert rows_[buyers]["member_count"] == 1 and rows_[fans]["member_count"] == 1
    return buyers, fans


def export(result: Any) -> set[str]:
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0][0] == "external_id"
    return {row[0] for row in rows[1:]}


def stored(sp: Driver, key: str) -> set[str]:
    return export(sp.run("segment", "members", key, "--no-refresh", "--format", "csv", "--fields", "external_id"))


def live_state(sp: Driver, *keys: str) -> dict[str, Any]:
    return {key: (stored(sp, key), sp.show(key)["member_count"], sp.show(key)["last_refreshed_at"]) for key in keys}


def test_an_earlier_refresh_is_refused_naming_the_stored_as_of(sp: Driver) -> None:
    buyers, fans = world(sp)
    before = live_state(sp, buyers, fans)
    line = sp.fails(3, "refresh", buyers, "--as-of", EARLY)
    assert buyers in line and "2026-03-11" in line and "--rewind" in line, line
    assert live_state(sp, buyers, fans) == before
    assert stored(sp, buyers) == {sp.k("b")}


def test_a_refresh_at_the_same_or_a_later_as_of_needs_no_rewind(sp: Driver) -> None:
    buyers, _ = world(sp)
    assert sp.ok("refresh", buyers, "--as-of", LATE)[0]["status"] == "succeeded"
    assert sp.ok("refresh", buyers, "--as-of", "2026-03-12T00:00:00Z")[0]["status"] == "succeeded"


def test_rewind_replaces_live_membership_by_the_earlier_one(sp: Driver) -> None:
    buyers, _ = world(sp)
    rows = {r["key"]: r for r in sp.ok("refresh", buyers, "--as-of", EARLY, "--rewind")}
    assert rows[buyers]["status"] == "succeeded" and rows[buyers]["member_count"] == 1
    assert stored(sp, buyers) == {sp.k("a")}
    # the rewind is recorded in the run and its events say so
    runs = sp.ok("segment", "history", buyers)["refreshes"]
    assert runs[0]["as_of"].startswith("2026-03-02") and runs[0]["rewind"] is True
    assert runs[1]["rewind"] is False
    rewound = [e for e in sp.show(buyers)["events"] if e["action"] == "rewound"]
    assert len(rewound) == 1 and "2026-03-11" in json.dumps(rewound[0]["detail"])
    # and forward again without any flag
    assert sp.ok("refresh", buyers, "--as-of", LATE)[0]["status"] == "succeeded"
    assert stored(sp, buyers) == {sp.k("b")}


def test_members_as_of_an_earlier_time_evaluates_without_storing(sp: Driver) -> None:
    buyers, fans = world(sp)
    before = live_state(sp, buyers, fans)
    early = sp.run("segment", "members", buyers, "--as-of", EARLY, "--format", "csv", "--fields", "external_id")
    assert export(early) == {sp.k("a")}
    # a segment earlier than the live state of the segment it references
    dependent = sp.run("segment", "members", fans, "--as-of", EARLY, "--format", "csv", "--fields", "external_id")
    assert export(dependent) == {sp.k("a")}
    assert live_state(sp, buyers, fans) == before


def test_presend_as_of_an_earlier_time_snapshots_an_evaluation_only(sp: Driver) -> None:
    buyers, fans = world(sp)
    before = live_state(sp, buyers, fans)
    snap = sp.ok("presend", sp.k("promo"), "--as-of", EARLY, "--allow-empty")
    assert {"campaign", "snapshot_id", "count"} <= set(snap)
    assert snap["campaign"] == sp.k("promo") and snap["count"] == 1
    assert isinstance(snap["snapshot_id"], int)
    assert live_state(sp, buyers, fans) == before


def test_presend_now_still_refreshes_forward(sp: Driver) -> None:
    _, fans = world(sp)
    snap = sp.ok("presend", sp.k("promo"), "--as-of", "2026-03-12T00:00:00Z")
    assert snap["count"] == 1 and snap["campaign"] == sp.k("promo")
    assert stored(sp, fans) == {sp.k("b")}
