"""Contract §7 "Operator commands" (issue 13.1, 13.5, 13.6), through the CLI only: `segment explain KEY
EXTERNAL_ID [--as-of T]`, `segment sql KEY`, `segment history KEY`, `segment deactivate KEY...`, YAML
`keep_active: true`. (`apply --prune` has its own module: it removes objects of every key.)"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.acceptance.contract_driver import Driver, attr, campaign, seg

AS_OF = "2026-03-05T00:00:00Z"


@pytest.fixture()
def sp(cli, tmp_path) -> Driver:
    return Driver(cli, tmp_path)


def scoped(sp: Driver, rules: dict[str, Any]) -> dict[str, Any]:
    return {"all": [{"attribute": "external_id", "op": "starts_with", "value": sp.tag}, rules]}


def jsonl(sp: Driver, name: str, rows: list[dict[str, Any]]) -> Any:
    return sp.file(name, "".join(json.dumps(r) + "\n" for r in rows))


def shop(sp: Driver) -> tuple[str, str]:
    """Five profiles with attributes, purchases and an unsubscription; `big` and `loyal` ({segment: big} ...)."""
    profiles = [
        {"external_id": sp.k("a"), "attributes": {"country": "FR"}},
        {"external_id": sp.k("b"), "attributes": {"country": "DE"}},
        {"external_id": sp.k("c"), "attributes": {"country": "FR"}},
        {"external_id": sp.k("d"), "attributes": {"country": 7}},
        {"external_id": sp.k("e"), "attributes": {}},
    ]
    sp.ok("load", "profiles", jsonl(sp, "p.jsonl", profiles))
    buy = [("a", 300, "2026-03-01"), ("a", 250, "2026-03-03"), ("b", 430, "2026-03-02"), ("c", 900, "2026-03-04")]
    events = [
        {"external_id": sp.k(x), "event": "purchase", "occurred_at": f"{day}T10:00:00Z", "properties": {"amount": n}}
        for x, n, day in buy
    ]
    sp.ok("load", "events", jsonl(sp, "e.jsonl", events))
    subs = [{"external_id": sp.k("a"), "channel": "email", "status": "unsubscribed", "updated_at": "2026-03-01"}]
    sp.ok("load", "subscriptions", jsonl(sp, "s.jsonl", subs))
    big, loyal = sp.k("big"), sp.k("loyal")
    spend = {"event": "purchase", "aggregate": "sum", "property": "amount", "op": "gte", "value": 500}
    rules = {
        "any": [attr("country", "DE"), {"all": [spend, {"not": {"subscription": "email", "status": "unsubscribed"}}]}]
    }
    sp.apply(
        seg(big, rules=scoped(sp, {**spend, "within": {"days": 90}})),
        seg(loyal, rules=scoped(sp, {"all": [{"segment": big}, rules]})),
    )
    sp.ok("refresh", big, loyal, "--as-of", AS_OF)
    return big, loyal


def stored(sp: Driver, key: str) -> set[str]:
    result = sp.run("segment", "members", key, "--no-refresh", "--format", "csv", "--fields", "external_id")
    assert result.exit_code == 0, result.output
    return {row[0] for row in list(csv.reader(io.StringIO(result.stdout)))[1:]}


# explain --------------------------------------------------------------------------------------------------------


def test_explain_agrees_with_membership_for_every_profile(sp: Driver) -> None:
    big, loyal = shop(sp)
    for key in (big, loyal):
        members = stored(sp, key)
        for name in "abcde":
            out = sp.ok("segment", "explain", key, sp.k(name), "--as-of", AS_OF)
            assert out["member"] is (sp.k(name) in members), (key, name, out)
    assert stored(sp, big) == {sp.k("a"), sp.k("c")} and stored(sp, loyal) == {sp.k("c")}


def test_explain_names_the_deciding_value(sp: Driver) -> None:
    big, _ = shop(sp)
    out = sp.run("segment", "explain", big, sp.k("b"), "--as-of", AS_OF)
    assert out.exit_code == 0, out.output
    assert "430" in out.stdout and "500" in out.stdout  # sum(amount) = 430, needs ≥ 500


def test_explain_shows_referenced_segments_and_the_subscription_record(sp: Driver) -> None:
    big, loyal = shop(sp)
    out = sp.run("segment", "explain", loyal, sp.k("a"), "--as-of", AS_OF)
    assert out.exit_code == 0, out.output
    assert big in out.stdout  # the referenced segment, explained by its own rules
    assert "unsubscribed" in out.stdout and "2026-03-01" in out.stdout  # the record used
    assert "not a member" in out.stdout


def test_explain_as_of_follows_time_and_stores_nothing(sp: Driver) -> None:
    big, loyal = shop(sp)
    before = (stored(sp, big), stored(sp, loyal), sp.show(big)["last_refreshed_at"])
    early = sp.ok("segment", "explain", big, sp.k("a"), "--as-of", "2026-03-02T00:00:00Z")
    assert early["member"] is False  # only 300 spent by then
    late = sp.ok("segment", "explain", big, sp.k("a"), "--as-of", AS_OF)
    assert late["member"] is True
    assert (stored(sp, big), stored(sp, loyal), sp.show(big)["last_refreshed_at"]) == before


def test_explain_refuses_unknown_segment_or_profile(sp: Driver) -> None:
    big, _ = shop(sp)
    assert "nope" in sp.fails(2, "segment", "explain", sp.k("nope"), sp.k("a"))
    assert "nobody" in sp.fails(2, "segment", "explain", big, sp.k("nobody"))
    assert sp.run("segment", "explain", big).exit_code == 2  # EXTERNAL_ID is required


# sql ------------------------------------------------------------------------------------------------------------


def test_segment_sql_prints_runnable_sql_that_selects_the_members(sp: Driver, engine: Engine) -> None:
    big, loyal = shop(sp)
    for key in (big, loyal):
        result = sp.run("segment", "sql", key, "--as-of", AS_OF)
        assert result.exit_code == 0, result.output
        text = result.stdout.strip().rstrip(";")
        assert text.upper().startswith("SELECT") or text.upper().startswith("WITH"), text
        assert sp.ok("segment", "sql", key, "--as-of", AS_OF)["sql"].strip().rstrip(";") == text
        query = f"SELECT p.external_id FROM segpipe.profiles p WHERE p.id IN (SELECT * FROM ({text}) AS q)"
        with engine.connect() as conn:
            found = {row[0] for row in conn.execute(sa.text(query.replace(":", r"\:")))}
        assert found == stored(sp, key), key


def test_segment_sql_of_an_unknown_segment_is_exit_2(sp: Driver) -> None:
    assert "nope" in sp.fails(2, "segment", "sql", sp.k("nope"))


# history --------------------------------------------------------------------------------------------------------


def test_history_lists_refresh_runs_and_definition_changes_with_the_old_rules(sp: Driver) -> None:
    key = sp.k("hist")
    sp.apply(seg(key, rules=scoped(sp, attr("tier", "gold"))))
    sp.ok("refresh", key, "--as-of", "2026-03-01T00:00:00Z")
    sp.ok("refresh", key, "--as-of", "2026-03-02T00:00:00Z")
    sp.apply(seg(key, rules=scoped(sp, attr("tier", "platinum"))))
    out = sp.ok("segment", "history", key)
    runs = out["refreshes"]
    assert [r["as_of"][:10] for r in runs] == ["2026-03-02", "2026-03-01"]  # newest first
    for field in ("as_of", "trigger", "status", "member_count", "added", "removed", "duration_ms", "flow_run_id"):
        assert field in runs[0], field
    changes = out["definitions"]
    assert len(changes) == 2 and changes[0]["changed_by"] == changes[1]["changed_by"] == "root"
    assert "gold" in json.dumps(changes[0]) and "platinum" in json.dumps(changes[0])  # the previous rules are kept
    text = sp.run("segment", "history", key)
    assert text.exit_code == 0 and "platinum" in text.stdout


def test_history_of_a_deleted_segment_stays_readable_unknown_is_exit_2(sp: Driver) -> None:
    key = sp.segment("gone")
    sp.ok("segment", "delete", key, "--yes")
    out = sp.ok("segment", "history", key)
    assert out["deleted"] is True and out["definitions"]
    assert "never" in sp.fails(2, "segment", "history", sp.k("never"))


# deactivate and keep_active -------------------------------------------------------------------------------------


def test_deactivate_is_immediate_refresh_all_skips_and_resume_undoes(sp: Driver) -> None:
    one, two = sp.segment("one"), sp.segment("two")
    out = sp.ok("segment", "deactivate", one, two)
    assert {row["key"] for row in out} == {one, two}
    assert sp.status(one) == sp.status(two) == "inactive"
    rows = {r["key"]: r for r in sp.ok("refresh", "--all")}
    assert rows[one]["status"] == rows[two]["status"] == "skipped"
    sp.ok("segment", "resume", one)
    assert sp.status(one) == "active" and sp.status(two) == "inactive"
    assert sp.show(one)["last_refreshed_at"] is not None


def test_deactivate_of_an_unknown_segment_is_exit_2_per_key(sp: Driver) -> None:
    """Bulk form (docs/lifecycle.md): each key in its own transaction; an unknown key is exit 2 and named."""
    one = sp.segment("known")
    assert sp.k("ghost") in sp.fails(2, "segment", "deactivate", sp.k("ghost"), one)
    result = sp.run("segment", "deactivate", sp.k("ghost"), one, "--json")
    outcomes = {row["key"]: row["ok"] for row in json.loads(result.stdout)["results"]}
    assert outcomes == {sp.k("ghost"): False, one: True}
    assert sp.status(one) == "inactive"


def test_keep_active_exempts_a_segment_from_classify(sp: Driver) -> None:
    kept, plain = sp.k("kept"), sp.k("plain")
    sp.apply(seg(kept, keep_active=True), seg(plain))
    rows = sp.classify("--as-of", "2027-06-01T00:00:00Z")
    assert sp.status(kept) == "active" and sp.status(plain) == "inactive", (rows.get(kept), rows.get(plain))
    assert sp.show(kept)["keep_active"] is True


def test_keep_active_does_not_stop_a_manual_deactivate_or_live_use_activation(sp: Driver) -> None:
    kept = sp.k("kept2")
    sp.apply(seg(kept, keep_active=True), campaign(sp.k("live"), "scheduled", include=[kept]))
    sp.ok("segment", "deactivate", kept)
    assert sp.status(kept) == "inactive"
    sp.classify()
    assert sp.status(kept) == "active"
