"""Contract §7 "Held refresh", through the CLI only (issue 11.4).

A refresh that would remove more than a segment's `max_drop` share (default 0.5, YAML `guard: {max_drop: F}`) of
its members while it has a live use leaves the stored members alone: status `held`, exit 3, one `error:` line
naming the segment and the counts; `refresh KEY --accept-drop` publishes it; dependents are `skipped`.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.acceptance.contract_driver import Driver, attr, campaign, error_line, seg

AS_OF = "2026-03-01T00:00:00Z"
LATER = "2026-03-02T00:00:00Z"


@pytest.fixture()
def sp(cli, tmp_path) -> Driver:
    return Driver(cli, tmp_path)


def scoped(sp: Driver, rules: dict[str, Any]) -> dict[str, Any]:
    return {"all": [{"attribute": "external_id", "op": "starts_with", "value": sp.tag}, rules]}


def tiers(sp: Driver, tier: str, names: list[str]) -> None:
    rows = [{"external_id": sp.k(n), "attributes": {"tier": tier}} for n in names]
    path = sp.file(f"p{len(list(sp.folder.iterdir()))}.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    sp.ok("load", "profiles", path)


def names(n: int) -> list[str]:
    return [f"p{i}" for i in range(n)]


def gold(sp: Driver, *, live: bool = True, **fields: Any) -> str:
    """Segment `gold` (tier = gold), a dependent `fan` ({segment: gold}), and a campaign using gold."""
    key, fan = sp.k("gold"), sp.k("fan")
    status = "scheduled" if live else "draft"
    sp.apply(
        seg(key, rules=scoped(sp, attr("tier", "gold")), **fields),
        seg(fan, rules={"segment": key}),
        campaign(sp.k("promo"), status, include=[key]),
    )
    return key


def stored(sp: Driver, key: str) -> set[str]:
    result = sp.run("segment", "members", key, "--no-refresh", "--format", "csv", "--fields", "external_id")
    assert result.exit_code == 0, result.output
    return {line for line in result.stdout.splitlines()[1:] if line}


def refresh_rows(result: Any) -> dict[str, dict[str, Any]]:
    return {row["key"]: row for row in json.loads(result.stdout)}


def test_a_large_drop_of_a_live_segment_is_held_and_nothing_changes(sp: Driver) -> None:
    key = gold(sp)
    tiers(sp, "gold", names(10))
    first = {r["key"]: r for r in sp.ok("refresh", key, sp.k("fan"), "--as-of", AS_OF)}
    assert first[key]["member_count"] == 10 and first[sp.k("fan")]["member_count"] == 10
    before = stored(sp, key)
    tiers(sp, "silver", names(9))

    held = sp.run("refresh", key, sp.k("fan"), "--as-of", LATER, "--json")
    assert held.exit_code == 3, held.output
    line = error_line(held, 3)
    assert key in line and "held" in line and "9 of 10" in line, line
    rows = refresh_rows(held)
    assert rows[key]["status"] == "held"
    assert (rows[key]["member_count"], rows[key]["added"], rows[key]["removed"]) == (1, 0, 9)
    assert rows[sp.k("fan")]["status"] == "skipped"
    assert stored(sp, key) == before and stored(sp, sp.k("fan")) == before
    assert sp.show(key)["member_count"] == 10

    plain = sp.run("refresh", key, "--as-of", LATER)
    assert error_line(plain, 3) == line


def test_accept_drop_publishes_the_held_refresh(sp: Driver) -> None:
    key = gold(sp)
    tiers(sp, "gold", names(10))
    sp.ok("refresh", key, "--as-of", AS_OF)
    tiers(sp, "silver", names(9))
    assert sp.run("refresh", key, "--as-of", LATER).exit_code == 3

    published = {r["key"]: r for r in sp.ok("refresh", key, "--as-of", LATER, "--accept-drop")}
    assert published[key]["status"] == "succeeded"
    assert (published[key]["member_count"], published[key]["removed"]) == (1, 9)
    assert stored(sp, key) == {sp.k("p9")}
    assert sp.show(key)["member_count"] == 1
    actions = [e["action"] for e in sp.show(key)["events"]]
    assert actions.count("held") == 1 and actions.count("drop_accepted") == 1
    accepted = next(e for e in sp.show(key)["events"] if e["action"] == "drop_accepted")
    assert accepted["actor"] == "root"  # the session's database role
    dependent = {r["key"]: r for r in sp.ok("refresh", sp.k("fan"), "--as-of", LATER)}
    assert dependent[sp.k("fan")]["status"] == "succeeded" and dependent[sp.k("fan")]["member_count"] == 1


def test_the_same_drop_without_a_live_use_is_published(sp: Driver) -> None:
    key = gold(sp, live=False)
    tiers(sp, "gold", names(10))
    sp.ok("refresh", key, "--as-of", AS_OF)
    tiers(sp, "silver", names(9))
    rows = {r["key"]: r for r in sp.ok("refresh", key, "--as-of", LATER)}
    assert rows[key]["status"] == "succeeded" and rows[key]["member_count"] == 1
    assert stored(sp, key) == {sp.k("p9")}


@pytest.mark.parametrize(
    ("guard", "dropped", "held"),
    [
        (None, 5, False),  # "more than" is strict: 5 of 10 at the default 0.5 passes
        (None, 6, True),
        (0.2, 2, False),
        (0.2, 3, True),
        (0.95, 9, False),
    ],
)
def test_max_drop_is_the_guard_share_default_half(sp: Driver, guard: float | None, dropped: int, held: bool) -> None:
    fields = {} if guard is None else {"guard": {"max_drop": guard}}
    key = gold(sp, **fields)
    tiers(sp, "gold", names(10))
    sp.ok("refresh", key, "--as-of", AS_OF)
    tiers(sp, "silver", names(dropped))
    result = sp.run("refresh", key, "--as-of", LATER, "--json")
    row = refresh_rows(result)[key]
    if held:
        assert result.exit_code == 3 and row["status"] == "held", result.output
        assert len(stored(sp, key)) == 10
    else:
        assert result.exit_code == 0 and row["status"] == "succeeded", result.output
        assert len(stored(sp, key)) == 10 - dropped


@pytest.mark.parametrize("bad", [1.5, -0.1, "half"])
def test_a_guard_outside_0_to_1_is_refused_by_apply(sp: Driver, bad: Any) -> None:
    line = sp.apply_fails(2, seg(sp.k("g"), guard={"max_drop": bad}))
    assert "max_drop" in line, line
    assert not sp.exists(sp.k("g"))


def test_accept_drop_is_for_named_segments_not_all(sp: Driver) -> None:
    key = gold(sp)
    tiers(sp, "gold", names(10))
    sp.ok("refresh", key, "--as-of", AS_OF)
    tiers(sp, "silver", names(9))
    assert sp.fails(2, "refresh", "--all", "--accept-drop", "--as-of", LATER)
    held = sp.run("refresh", "--all", "--as-of", LATER, "--json")
    assert held.exit_code == 3 and refresh_rows(held)[key]["status"] == "held"
    assert len(stored(sp, key)) == 10


def test_presend_and_members_of_a_held_segment_are_refused(sp: Driver) -> None:
    key = gold(sp)
    tiers(sp, "gold", names(10))
    sp.ok("refresh", key, "--as-of", AS_OF)
    tiers(sp, "silver", names(9))
    presend = sp.run("presend", sp.k("promo"), "--as-of", LATER, "--json")
    assert error_line(presend, 3) and "held" in presend.stderr
    assert stored(sp, key) == {sp.k(n) for n in names(10)}
    members = sp.run("segment", "members", key, "--as-of", LATER, "--format", "csv")
    error_line(members, 3)
    assert "p9" not in members.stdout
