"""Contract §5 (inactivity) and the lifecycle commands of §6, checked through the CLI only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from tests.acceptance.contract_driver import Driver, attr, campaign, days_from_now, seg


@pytest.fixture()
def sp(cli, tmp_path) -> Driver:
    return Driver(cli, tmp_path)


def scoped(sp: Driver, rules: dict[str, Any]) -> dict[str, Any]:
    return {"all": [{"attribute": "external_id", "op": "starts_with", "value": sp.tag}, rules]}


def load_profiles(sp: Driver, *rows: dict[str, Any]) -> None:
    text = "\n".join(json.dumps({**row, "external_id": sp.k(row["external_id"])}) for row in rows) + "\n"
    sp.ok("load", "profiles", sp.file(f"p-{sp.tag}.jsonl", text))


# live and passive uses (§5) -------------------------------------------------------------------------------------

Docs = Callable[[str, str, str], list[dict[str, Any]]]
"""(segment key, another segment key, consumer key prefix) → the consumer documents."""


def _campaign(status: str) -> Docs:
    return lambda s, other, c: [campaign(c, status, include=[s])]


def _excluded(status: str) -> Docs:
    return lambda s, other, c: [campaign(c, status, include=[other], exclude=[s])]


def _journey(status: str) -> Docs:
    return lambda s, other, c: [{"kind": "Journey", "key": c, "status": status, "segments": [s]}]


def _test_list(status: str | None, link: str = "campaign") -> Docs:
    def docs(s: str, other: str, c: str) -> list[dict[str, Any]]:
        if status is None:
            return [{"kind": "TestList", "key": c + "-tl", "segment": s}]
        field: Any = c if link == "campaign" else [c]
        owner = campaign(c, status, include=[other])
        return [owner, {"kind": "TestList", "key": c + "-tl", "segment": s, link: field}]

    return docs


def _message(owner_kind: str | None, status: str = "") -> Docs:
    def docs(s: str, other: str, c: str) -> list[dict[str, Any]]:
        message = {"kind": "Message", "key": c + "-msg", "segments": [s]}
        if owner_kind is None:
            return [message]
        owner = (
            campaign(c, status, include=[other])
            if owner_kind == "campaign"
            else {"kind": "Journey", "key": c, "status": status, "segments": [other]}
        )
        return [owner, {**message, "used_by": [c]}]

    return docs


USES: dict[str, tuple[Docs, bool]] = {
    "campaign draft": (_campaign("draft"), False),
    "campaign scheduled": (_campaign("scheduled"), True),
    "campaign sending": (_campaign("sending"), True),
    "campaign sent": (_campaign("sent"), False),
    "campaign cancelled": (_campaign("cancelled"), False),
    "campaign scheduled, excluded": (_excluded("scheduled"), True),
    "campaign draft, excluded": (_excluded("draft"), False),
    "journey draft": (_journey("draft"), False),
    "journey live": (_journey("live"), True),
    "journey paused": (_journey("paused"), False),
    "journey stopped": (_journey("stopped"), False),
    "test list of a scheduled campaign": (_test_list("scheduled"), True),
    "test list used_by a sending campaign": (_test_list("sending", "used_by"), True),
    "test list of a draft campaign": (_test_list("draft"), False),
    "test list of a sent campaign": (_test_list("sent"), False),
    "test list alone": (_test_list(None), False),
    "message used_by a scheduled campaign": (_message("campaign", "scheduled"), True),
    "message used_by a live journey": (_message("journey", "live"), True),
    "message used_by a draft campaign": (_message("campaign", "draft"), False),
    "message used_by a paused journey": (_message("journey", "paused"), False),
    "message used by nothing": (_message(None), False),
    "report": (lambda s, other, c: [{"kind": "Report", "key": c, "segments": [s]}], False),
}


@pytest.mark.parametrize("use", list(USES))
def test_live_and_passive_uses(sp: Driver, use: str) -> None:
    make, live = USES[use]
    s, other, c = sp.k("s"), sp.k("other"), sp.k("consumer")
    sp.apply(seg(s), seg(other), *make(s, other, c))
    rows = sp.classify("--as-of", days_from_now(30))
    assert rows[s]["status"] == ("active" if live else "inactive")
    assert sp.status(s) == ("active" if live else "inactive")
    # the use is listed whatever its kind and status
    assert len(sp.show(s)["usage"]) >= 1


def test_live_use_is_transitive_through_segment_references(sp: Driver) -> None:
    a, b, c, d, camp = sp.k("a"), sp.k("b"), sp.k("c"), sp.k("d"), sp.k("camp")
    sp.apply(
        seg(c),
        seg(b, rules={"all": [attr("x", 1), {"not": {"segment": c}}]}),
        seg(a, rules={"any": [{"segment": b}, attr("y", 2)]}),
        seg(d, rules={"segment": c}),
        campaign(camp, "scheduled", include=[a]),
        {"kind": "Report", "key": sp.k("rep"), "segments": [d]},
    )
    rows = sp.classify("--as-of", days_from_now(30))
    assert {k: rows[k]["status"] for k in (a, b, c, d)} == {a: "active", b: "active", c: "active", d: "inactive"}


def test_transitive_through_a_message_of_a_live_journey(sp: Driver) -> None:
    a, b, jr = sp.k("a"), sp.k("b"), sp.k("jr")
    sp.apply(
        seg(b),
        seg(a, rules={"segment": b}),
        {"kind": "Journey", "key": jr, "status": "live", "segments": []},
        {"kind": "Message", "key": sp.k("msg"), "segments": [a], "used_by": [jr]},
    )
    rows = sp.classify("--as-of", days_from_now(30))
    assert (rows[a]["status"], rows[b]["status"]) == ("active", "active")


def test_a_segment_used_only_by_passive_segments_is_inactive(sp: Driver) -> None:
    a, b = sp.k("a"), sp.k("b")
    sp.apply(seg(b), seg(a, rules={"segment": b}), campaign(sp.k("c"), "sent", include=[a]))
    rows = sp.classify("--as-of", days_from_now(30))
    assert (rows[a]["status"], rows[b]["status"]) == ("inactive", "inactive")


# the grace period --------------------------------------------------------------------------------------------------


def test_default_grace_is_14_days(sp: Driver) -> None:
    s = sp.segment("s")
    assert sp.classify("--as-of", days_from_now(13.9))[s]["status"] == "active"
    assert sp.status(s) == "active"
    assert sp.classify("--as-of", days_from_now(14.1))[s]["status"] == "inactive"
    assert sp.status(s) == "inactive"


def test_grace_option(sp: Driver) -> None:
    s = sp.segment("s")
    assert sp.classify("--as-of", days_from_now(20), "--grace", "30")[s]["status"] == "active"
    assert sp.classify("--as-of", days_from_now(31), "--grace", "30")[s]["status"] == "inactive"


def test_classify_without_as_of_keeps_a_new_segment_active(sp: Driver) -> None:
    s = sp.segment("s")
    assert sp.classify()[s]["status"] == "active"
    assert sp.classify("--grace", "0")[s]["status"] in ("active", "inactive")


def test_live_use_ends_then_grace_counts_from_the_last_live_use(sp: Driver) -> None:
    s, c = sp.k("s"), sp.k("c")
    sp.apply(seg(s), campaign(c, "scheduled", include=[s]))
    assert sp.classify("--as-of", days_from_now(20))[s]["status"] == "active"
    sp.apply(seg(s), campaign(c, "sent", include=[s]))
    assert sp.classify("--as-of", days_from_now(30))[s]["status"] == "active"  # last live use seen at +20 d
    assert sp.classify("--as-of", days_from_now(35))[s]["status"] == "inactive"


def test_a_new_live_use_makes_an_inactive_segment_active(sp: Driver) -> None:
    s, c = sp.k("s"), sp.k("c")
    sp.apply(seg(s), campaign(c, "draft", include=[s]))
    assert sp.classify("--as-of", days_from_now(30))[s]["status"] == "inactive"
    sp.apply(seg(s), campaign(c, "scheduled", include=[s]))
    assert sp.status(s) == "active"
    assert sp.classify("--as-of", days_from_now(60))[s]["status"] == "active"


# inactive segments: list, refresh --all, resume ---------------------------------------------------------------------


def test_inactive_segments_are_hidden_skipped_and_resumed(sp: Driver) -> None:
    load_profiles(sp, {"external_id": "u1", "attributes": {"tier": "gold"}}, {"external_id": "u2"})
    idle, used, camp = sp.k("idle"), sp.k("used"), sp.k("camp")
    sp.apply(
        seg(idle, rules=scoped(sp, attr("tier", "gold"))),
        seg(used, rules=scoped(sp, {"attribute": "external_id", "op": "exists"})),
        campaign(camp, "scheduled", include=[used]),
    )
    sp.classify("--as-of", days_from_now(30))
    assert sp.status(idle) == "inactive"
    assert sp.listed() == [used]
    assert sp.listed("--status", "active") == [used]
    assert sp.listed("--status", "inactive") == [idle]
    assert sorted(sp.listed("--status", "all")) == sorted([idle, used])
    rows = {row["key"]: row for row in sp.ok("refresh", "--all")}
    assert rows[idle]["status"] == "skipped"
    assert {"key", "status", "member_count", "added", "removed"} <= set(rows[idle])
    assert rows[used]["status"] == "succeeded" and rows[used]["member_count"] == 2
    assert sp.show(idle)["last_refreshed_at"] is None
    resumed = sp.ok("segment", "resume", idle)
    assert resumed[0]["key"] == idle
    shown = sp.show(idle)
    assert shown["status"] == "active"
    assert shown["member_count"] == 1 and shown["last_refreshed_at"] is not None
    assert sp.listed() == sorted([idle, used])


def test_resume_counts_as_activity(sp: Driver) -> None:
    s = sp.segment("s")
    sp.classify("--as-of", days_from_now(15))
    assert sp.status(s) == "inactive"
    sp.ok("segment", "resume", s)
    assert sp.classify("--as-of", days_from_now(15))[s]["status"] == "active"


def test_resume_unknown_key(sp: Driver) -> None:
    sp.fails(2, "segment", "resume", sp.k("nope"))


# segment list: filters, search, sort ----------------------------------------------------------------------------


def test_list_search_and_sort(sp: Driver) -> None:
    load_profiles(sp, *({"external_id": f"u{i}", "attributes": {"n": i}} for i in range(4)))
    a, b, c = sp.k("alpha"), sp.k("beta"), sp.k("gamma")
    sp.apply(
        seg(a, sp.k("Zeta customers"), rules=scoped(sp, attr("n", 1, "gte"))),
        seg(b, sp.k("Young 50%_off"), rules=scoped(sp, attr("n", 3, "gte"))),
        seg(c, sp.k("Middle"), rules=scoped(sp, attr("n", 2, "gte")), description="Has Coupon"),
    )
    sp.ok("refresh", a, b, c)
    assert sp.listed("--search", "coupon") == [c]
    assert sp.listed("--search", "ZETA") == [a]
    assert sp.listed("--search", "50%_") == [b]
    assert sp.listed("--search", "5_") == []
    assert sp.listed("--search", sp.tag + "beta") == [b]
    assert sp.listed("--sort", "name") == [c, b, a]
    assert sp.listed("--sort", "key") == [a, b, c]
    assert sp.listed("--sort", "member_count") == [b, c, a]
    assert sp.listed("--sort=-member_count") == [a, c, b]
    assert sp.listed("--sort", "-member_count") == [a, c, b]
    sp.fails(2, "segment", "list", "--sort", "bogus")
    sp.fails(2, "segment", "list", "--status", "deleted")


def test_list_and_show_json_fields(sp: Driver) -> None:
    s, camp = sp.k("s"), sp.k("camp")
    sp.apply(seg(s, sp.k("Name")), campaign(camp, "draft", include=[s]))
    (row,) = [r for r in sp.ok("segment", "list", "--status", "all") if r["key"] == s]
    shown = sp.show(s)
    for data in (row, shown):
        assert {"key", "name", "status", "archived", "member_count", "last_refreshed_at", "usage"} <= set(data)
        assert (data["key"], data["name"], data["status"], data["archived"]) == (s, sp.k("Name"), "active", False)
        assert data["member_count"] in (None, 0) and data["last_refreshed_at"] is None
        assert [{"kind": u["kind"], "key": u["key"]} for u in data["usage"]] == [{"kind": "campaign", "key": camp}]


# archive / unarchive ----------------------------------------------------------------------------------------------


def test_archive_hides_and_unarchive_restores(sp: Driver) -> None:
    a, b, camp = sp.k("a"), sp.k("b"), sp.k("camp")
    sp.apply(seg(a), seg(b), campaign(camp, "scheduled", include=[a]))
    sp.ok("segment", "archive", a)
    assert sp.show(a)["archived"] is True and sp.status(a) == "active"
    assert sp.listed() == [b]
    assert sp.listed("--status", "archived") == [a]
    assert sorted(sp.listed("--status", "all")) == [a, b]
    # still in usage listings, and still refreshed while a campaign uses it
    assert [s["key"] for s in sp.ok("segment", "usage", "--of", f"campaign:{camp}")["segments"]] == [a]
    rows = {row["key"]: row for row in sp.ok("refresh", "--all")}
    assert rows[a]["status"] == "succeeded"
    sp.ok("segment", "unarchive", a)
    assert sp.show(a)["archived"] is False
    assert sp.listed() == [a, b]
    sp.fails(2, "segment", "archive", sp.k("nope"))


# clone / rename -----------------------------------------------------------------------------------------------------


def test_clone_copies_rules_with_a_fresh_history(sp: Driver) -> None:
    load_profiles(sp, {"external_id": "u1"})
    a = sp.segment("a", scoped(sp, {"attribute": "external_id", "op": "exists"}), display=sp.k("Original"))
    sp.ok("refresh", a)
    copy = sp.k("copy")
    out = sp.ok("segment", "clone", a, copy)
    assert out["key"] == copy
    original, cloned = sp.show(a), sp.show(copy)
    assert cloned["rules"] == original["rules"]
    assert cloned["status"] == "active" and cloned["name"] != original["name"]
    assert cloned["last_refreshed_at"] is None and cloned["member_count"] in (None, 0)
    assert original["member_count"] == 1
    sp.fails(2, "segment", "clone", a, copy)  # the key is taken
    sp.fails(2, "segment", "clone", a, "Bad Key")
    sp.fails(2, "segment", "clone", sp.k("nope"), sp.k("x"))
    named = sp.ok("segment", "clone", a, sp.k("copy2"), "--name", sp.k("Second copy"))
    assert sp.show(named["key"])["name"] == sp.k("Second copy")
    sp.fails(2, "segment", "clone", a, sp.k("copy3"), "--name", sp.k("Original"))


def test_rename_keeps_the_key_and_names_stay_unique(sp: Driver) -> None:
    a, b = sp.k("a"), sp.k("b")
    sp.apply(seg(a, sp.k("First")), seg(b, sp.k("Second")))
    sp.ok("segment", "rename", a, sp.k("Renamed"))
    shown = sp.show(a)
    assert (shown["key"], shown["name"]) == (a, sp.k("Renamed"))
    line = sp.fails(2, "segment", "rename", b, sp.k("Renamed"))
    assert sp.k("Renamed") in line
    assert sp.show(b)["name"] == sp.k("Second")
    sp.fails(2, "segment", "rename", sp.k("nope"), "Whatever")
    sp.fails(2, "segment", "rename", a, "   ")
    # the old name is free again
    assert sp.apply(seg(sp.k("c"), sp.k("First")))["objects"][0]["action"] == "created"


# delete -------------------------------------------------------------------------------------------------------------


def test_delete_needs_yes_without_a_terminal(sp: Driver) -> None:
    a = sp.segment("a")
    sp.fails(2, "segment", "delete", a)
    sp.fails(2, "segment", "delete", a, input="y\n")
    assert sp.exists(a)
    sp.ok("segment", "delete", a, "--yes")
    assert not sp.exists(a)
    sp.fails(2, "segment", "show", a)
    sp.fails(2, "segment", "delete", a, "--yes")


def test_delete_asks_on_a_terminal(sp: Driver, monkeypatch) -> None:
    from segpipe.cli import segment_ops

    monkeypatch.setattr(segment_ops, "stdin_is_terminal", lambda: True)
    a = sp.segment("a")
    refused = sp.run("segment", "delete", a, input="n\n")
    assert refused.exit_code == 3 and sp.exists(a)
    accepted = sp.run("segment", "delete", a, input="y\n")
    assert accepted.exit_code == 0 and not sp.exists(a)
    b = sp.segment("b")
    as_json = sp.run("segment", "delete", b, "--json", input="y\n")
    assert as_json.exit_code == 0 and not sp.exists(b)
    assert "Delete" in as_json.stderr and "Delete" not in as_json.stdout  # the question went to stderr
    assert json.loads(as_json.stdout.splitlines()[-1])[0]["key"] == b  # (CliRunner echoes the typed answer)


@pytest.mark.parametrize("status", ["draft", "sent"])
def test_delete_refused_while_referenced(sp: Driver, status: str) -> None:
    a, b, camp, rep, user = sp.k("a"), sp.k("b"), sp.k("camp"), sp.k("rep"), sp.k("user")
    sp.apply(
        seg(a),
        seg(b),
        seg(user, rules={"not": {"segment": a}}),
        campaign(camp, status, include=[a]),
        {"kind": "Report", "key": rep, "segments": [a, b]},
    )
    line = sp.fails(3, "segment", "delete", a, "--yes")
    assert camp in line and rep in line and user in line
    assert sp.exists(a)
    line = sp.fails(3, "segment", "delete", b, "--yes")
    assert rep in line
    assert sp.exists(b)


def test_delete_several_keys(sp: Driver) -> None:
    a, b, c = sp.k("a"), sp.k("b"), sp.k("c")
    sp.apply(seg(a), seg(b), seg(c, rules={"segment": b}))
    out = sp.ok("segment", "delete", a, c, "--yes")
    assert [row["key"] for row in out] == [a, c]
    assert not sp.exists(a) and not sp.exists(c) and sp.exists(b)


def test_delete_a_chain_in_one_command(sp: Driver) -> None:
    base, mid, top, other, camp = sp.k("base"), sp.k("mid"), sp.k("top"), sp.k("other"), sp.k("camp")
    sp.apply(
        seg(base),
        seg(mid, rules={"segment": base}),
        seg(top, rules={"not": {"segment": mid}}),
        seg(other, rules={"segment": base}),
        campaign(camp, "draft", include=[other]),
    )
    # `other` is used by a campaign: it stays, so `base` (referenced by it) stays too; mid and top go
    result = sp.run("segment", "delete", base, mid, top, other, "--yes", "--json")
    assert result.exit_code == 3
    rows = {row["key"]: row for row in json.loads(result.stdout)["results"]}
    assert [rows[k]["ok"] for k in (base, mid, top, other)] == [False, True, True, False]
    assert camp in rows[other]["message"] and other in rows[base]["message"]
    assert sp.exists(base) and sp.exists(other) and not sp.exists(mid) and not sp.exists(top)
    sp.apply(campaign(camp, "draft", include=[]))
    assert [row["key"] for row in sp.ok("segment", "delete", base, other, "-y")] == [base, other]
    assert not sp.exists(base) and not sp.exists(other)


# usage ---------------------------------------------------------------------------------------------------------------


def test_usage_lists_every_consumer_kind(sp: Driver) -> None:
    s, camp, jr = sp.k("s"), sp.k("camp"), sp.k("jr")
    sp.apply(
        seg(s),
        seg(sp.k("ref"), rules={"segment": s}),
        campaign(camp, "scheduled", include=[s]),
        {"kind": "Journey", "key": jr, "status": "paused", "segments": [s]},
        {"kind": "TestList", "key": sp.k("tl"), "segment": s, "campaign": camp},
        {"kind": "Message", "key": sp.k("msg"), "segments": [s], "used_by": [jr]},
        {"kind": "Report", "key": sp.k("rep"), "segments": [s]},
    )
    usage = sp.ok("segment", "usage", s)
    assert {u["key"] for u in usage} == {sp.k(n) for n in ("ref", "camp", "jr", "tl", "msg", "rep")}
    assert usage == sp.show(s)["usage"]
    sp.fails(2, "segment", "usage", sp.k("nope"))


# refresh in progress ------------------------------------------------------------------------------------------------


def test_edit_and_delete_refused_while_refreshing(sp: Driver, engine, db_url) -> None:
    load_profiles(sp, {"external_id": "u1"})
    a = sp.segment("a", scoped(sp, {"attribute": "external_id", "op": "exists"}))
    env = {**os.environ, "SEGPIPE_DATABASE_URL": db_url, "SEGPIPE_ORCHESTRATION": "direct"}
    with engine.connect() as blocker:
        # The refresh stalls on the segment's row (it writes it) while holding the segment's refresh lock.
        blocker.execute(sa.text("SELECT 1 FROM segpipe.segments WHERE key = :k FOR NO KEY UPDATE"), {"k": a})
        refresh = subprocess.Popen(
            [sys.executable, "-m", "segpipe.cli.main", "refresh", a, "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 60
            while not sp.show(a)["refresh_running"]:
                assert time.monotonic() < deadline and refresh.poll() is None, refresh.communicate()
                time.sleep(0.2)
            line = sp.apply_fails(3, seg(a, rules=scoped(sp, attr("tier", "gold"))))
            assert a in line and "refresh" in line
            sp.fails(3, "segment", "delete", a, "--yes")
        finally:
            blocker.rollback()
            _out, err = refresh.communicate(timeout=60)
    assert refresh.returncode == 0, err
    assert sp.apply(seg(a, rules=scoped(sp, attr("tier", "gold"))))["objects"][0]["action"] == "updated"


# conveniences a data engineer reaches for ------------------------------------------------------------------------


def test_clone_with_default_key_and_positional_name(sp: Driver) -> None:
    a = sp.segment("a", display=sp.k("Base"))
    first = sp.ok("segment", "clone", a)
    assert (first["key"], first["name"]) == (a + "-copy", sp.k("Base") + " (copy)")
    assert sp.ok("segment", "clone", a)["key"] == a + "-copy-2"
    named = sp.ok("segment", "clone", a, sp.k("b"), sp.k("Named"))
    assert sp.show(named["key"])["name"] == sp.k("Named")
    sp.fails(2, "segment", "clone", a, sp.k("c"), sp.k("One"), "--name", sp.k("Two"))


def test_rename_with_name_option_and_delete_with_short_yes(sp: Driver) -> None:
    a = sp.segment("a")
    sp.ok("segment", "rename", a, "--name", sp.k("Via option"))
    assert sp.show(a)["name"] == sp.k("Via option")
    sp.ok("segment", "delete", a, "-y")
    assert not sp.exists(a)


def test_sort_direction_suffix_and_grace_units(sp: Driver) -> None:
    a, b = sp.segment("a", display=sp.k("A")), sp.segment("b", display=sp.k("B"))
    assert sp.listed("--sort", "name:desc") == [b, a]
    assert sp.listed("--sort", "name:asc") == [a, b]
    sp.fails(2, "segment", "list", "--sort", "name:sideways")
    assert sp.classify("--as-of", days_from_now(10), "--grace", "2w")[a]["status"] == "active"
    assert sp.classify("--as-of", days_from_now(2), "--grace", "36h")[a]["status"] == "inactive"


def test_show_previews_the_first_members(sp: Driver) -> None:
    load_profiles(sp, *({"external_id": f"u{i:02d}"} for i in range(12)))
    a = sp.segment("a", scoped(sp, {"attribute": "external_id", "op": "exists"}))
    assert sp.show(a)["members"] == []
    sp.ok("refresh", a)
    shown = sp.show(a)
    assert shown["member_count"] == 12
    assert shown["members"] == [sp.k(f"u{i:02d}") for i in range(10)]
    assert sp.k("u00") in sp.run("segment", "show", a).stdout
