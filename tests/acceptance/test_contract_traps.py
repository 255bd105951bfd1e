"""Hostile edge cases of contract §3 (apply), §5 (inactivity) and §6 (commands), checked through the CLI only.

Each test is a trap a strict acceptance test could set: every error must be one `error:` line with the contract's
exit code (2 for invalid input), never a crash reported as a failure (1).
"""

from __future__ import annotations

import json

import pytest

from tests.acceptance.contract_driver import Driver, campaign, days_from_now, seg


@pytest.fixture()
def sp(cli, tmp_path) -> Driver:
    return Driver(cli, tmp_path)


# times at the edge of the calendar are invalid input, not failures -------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("refresh", "--all", "--as-of", "0001-01-01T00:00:00+01:00"),
        ("refresh", "--all", "--as-of", "9999-12-31T23:59:59-01:00"),
        ("classify", "--as-of", "0001-01-01T00:00:00Z"),
        ("classify", "--grace", "999999999d"),
    ],
)
def test_out_of_range_times_are_exit_2(sp: Driver, args: tuple[str, ...]) -> None:
    sp.segment("s")
    sp.fails(2, *args)


def test_members_output_to_a_directory_is_exit_2(sp: Driver, tmp_path) -> None:
    key = sp.segment("s")
    assert "--output" in sp.fails(2, "segment", "members", key, "--output", tmp_path)


# grant / revoke: "deletion needs both `profiles:*`" -----------------------------------------------------------------


def test_profiles_wildcard_grants_both_profile_permissions(sp: Driver) -> None:
    actor = sp.k("ana")
    assert sp.ok("grant", actor, "profiles:*")["permissions"] == ["profiles:edit", "profiles:view"]
    assert sp.ok("revoke", actor, "*")["permissions"] == []
    sp.fails(2, "grant", actor, "bogus:*")
    sp.fails(2, "grant", actor, "prof*")


# a test list of a live campaign, attached from the campaign's side -------------------------------------------------


@pytest.mark.parametrize(("status", "live"), [("scheduled", True), ("sending", True), ("draft", False)])
def test_campaign_may_name_its_test_lists(sp: Driver, status: str, live: bool) -> None:
    s, one, many = sp.k("s"), sp.k("s-one"), sp.k("s-many")
    docs = [seg(s), seg(one), seg(many)]
    docs += [{"kind": "TestList", "key": sp.k(n), "segment": sp.k("s-" + n)} for n in ("one", "many")]
    docs += [
        campaign(sp.k("c1"), status, include=[s], test_list=sp.k("one")),
        campaign(sp.k("c2"), status, include=[s], test_lists=[sp.k("many")]),
    ]
    sp.apply(*docs)
    assert {o["action"] for o in sp.apply(*docs)["objects"]} == {"unchanged"}
    rows = sp.classify("--as-of", days_from_now(30))
    expected = "active" if live else "inactive"
    assert (rows[one]["status"], rows[many]["status"]) == (expected, expected)
    usage = sp.ok("segment", "usage", "--of", f"test_list:{sp.k('one')}")
    assert usage["links"] == [{"kind": "campaign", "key": sp.k("c1")}] and usage["live"] is live


def test_campaign_naming_an_unknown_test_list_is_refused(sp: Driver) -> None:
    s = sp.segment("s")
    line = sp.apply_fails(2, campaign(sp.k("c"), "draft", include=[s], test_lists=[sp.k("nope")]))
    assert "test_lists[0]" in line


# --grace spelled the ways a data engineer writes a duration ----------------------------------------------------------


@pytest.mark.parametrize(("grace", "days"), [("14 days", 14), ("P14D", 14), ("PT36H", 1.5), ("2 weeks", 14)])
def test_grace_units_spelled_out_and_iso_8601(sp: Driver, grace: str, days: float) -> None:
    s = sp.segment("s")
    assert sp.classify("--as-of", days_from_now(days - 0.1), "--grace", grace)[s]["status"] == "active"
    assert sp.classify("--as-of", days_from_now(days + 0.1), "--grace", grace)[s]["status"] == "inactive"


@pytest.mark.parametrize("grace", ["P", "PT", "P1M", "14x", "1e9"])
def test_grace_nonsense_is_exit_2(sp: Driver, grace: str) -> None:
    sp.fails(2, "classify", "--grace", grace)


# text output off a terminal: long keys are never cut to `…` -----------------------------------------------------------


def test_long_keys_survive_the_text_tables(sp: Driver) -> None:
    key = sp.k("x" * 50 + "-tail")
    sp.apply(seg(key, name=sp.k("A display name long enough to need some room in a table")))
    refreshed = sp.run("refresh", key, env={"COLUMNS": ""})
    assert refreshed.exit_code == 0
    assert any(key in line and "succeeded" in line for line in refreshed.stdout.splitlines()), refreshed.stdout
    listed = sp.run("segment", "list", "--search", key, env={"COLUMNS": ""})
    assert any(key in line and "active" in line for line in listed.stdout.splitlines()), listed.stdout


# presend: campaign statuses, the channel's unsubscribes as of the pre-send time ---------------------------------------


def _load(sp: Driver, kind: str, rows: list[dict]) -> None:
    sp.ok("load", kind, sp.file(f"{kind}-{sp.tag}.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n"))


def test_presend_by_campaign_status(sp: Driver) -> None:
    _load(sp, "profiles", [{"external_id": sp.k("p1")}])
    s = sp.segment("s", {"attribute": "external_id", "op": "starts_with", "value": sp.tag})
    docs = [campaign(sp.k(status), status, include=[s]) for status in ("draft", "sent", "cancelled")]
    sp.apply(*docs)
    assert sp.ok("presend", sp.k("draft"))["count"] == 1
    sp.fails(3, "presend", sp.k("sent"))
    sp.fails(3, "presend", sp.k("cancelled"))
    sp.fails(2, "presend", sp.k("nope"))


def test_presend_unsubscribes_count_on_the_campaign_channel_as_of(sp: Driver) -> None:
    _load(sp, "profiles", [{"external_id": sp.k(f"p{i}")} for i in range(4)])
    at = "2026-06-01T00:00:00Z"
    unsubscribed = [("p0", "email"), ("p1", "sms"), ("p2", "email")]
    _load(
        sp,
        "subscriptions",
        [{"external_id": sp.k(p), "channel": c, "status": "unsubscribed", "updated_at": at} for p, c in unsubscribed],
    )
    s = sp.segment("s", {"attribute": "external_id", "op": "starts_with", "value": sp.tag})
    sp.ok("segment", "archive", s)  # an archived segment still serves its campaigns
    sp.apply(
        campaign(sp.k("mail"), "scheduled", include=[s]),
        campaign(sp.k("text"), "scheduled", include=[s], channel="sms"),
    )
    assert sp.ok("presend", sp.k("mail"), "--as-of", "2026-07-01T00:00:00Z")["count"] == 2
    assert sp.ok("presend", sp.k("text"), "--as-of", "2026-07-01T00:00:00Z")["count"] == 3
    # before the unsubscribes every profile was subscribed (3 → 4 stays within the ±50% change gate)
    assert sp.ok("presend", sp.k("text"), "--as-of", "2026-05-01T00:00:00Z")["count"] == 4
