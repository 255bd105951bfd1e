"""Incremental refresh (issue 12) seen from the contract: whatever path a refresh takes, the stored members are
exactly what the rules select (§4). After each change (profiles, events, subscriptions, identify, a deletion)
and each refresh, the stored members of every segment equal the rows of `segment sql KEY --as-of T` run in
Postgres (a full evaluation), and `segment history` shows that the incremental path was taken."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.acceptance.contract_driver import Driver, attr, campaign, seg


@pytest.fixture()
def sp(cli, tmp_path) -> Driver:
    return Driver(cli, tmp_path)


def jsonl(sp: Driver, rows: list[dict[str, Any]]) -> Any:
    return sp.file(f"f{len(list(sp.folder.iterdir()))}.jsonl", "".join(json.dumps(r) + "\n" for r in rows))


def stored(sp: Driver, key: str) -> set[str]:
    result = sp.run("segment", "members", key, "--no-refresh", "--format", "csv", "--fields", "external_id")
    assert result.exit_code == 0, result.output
    return {row[0] for row in list(csv.reader(io.StringIO(result.stdout)))[1:]}


def oracle(sp: Driver, engine: Engine, key: str, as_of: str) -> set[str]:
    text = sp.ok("segment", "sql", key, "--as-of", as_of)["sql"].strip().rstrip(";")
    query = f"SELECT p.external_id FROM segpipe.profiles p WHERE p.id IN (SELECT * FROM ({text}) AS q)"
    with engine.connect() as conn:
        return {row[0] for row in conn.execute(sa.text(query.replace(":", r"\:")))}


def test_refreshes_stay_exact_through_every_kind_of_change(sp: Driver, engine: Engine) -> None:
    k = sp.k
    scope = {"attribute": "external_id", "op": "starts_with", "value": sp.tag}
    rules = {
        "gold": attr("tier", "gold"),
        "buyers": {"event": "buy", "within": {"days": 7}},
        "spenders": {"event": "buy", "aggregate": "sum", "property": "v", "op": "gte", "value": 10},
        "mailable": {"subscription": "email", "status": "subscribed"},
        "gold-buyers": {"all": [{"segment": k("gold")}, {"segment": k("buyers")}]},
        "not-gold": {"not": {"segment": k("gold")}},
    }
    keys = [k(name) for name in rules]
    docs = [seg(k(name), rules={"all": [scope, r]}, guard={"max_drop": 1}) for name, r in rules.items()]
    sp.apply(*docs, campaign(k("c"), "draft", include=keys))
    sp.ok(
        "load",
        "profiles",
        jsonl(
            sp, [{"external_id": k(f"p{i}"), "attributes": {"tier": "gold" if i % 2 else "silver"}} for i in range(8)]
        ),
    )

    def buy(who: str, day: int, v: int) -> dict[str, Any]:
        return {
            "external_id": k(who),
            "event": "buy",
            "occurred_at": f"2026-04-{day:02d}T12:00:00Z",
            "properties": {"v": v},
        }

    steps = [
        ("events", [buy("p1", 1, 5), buy("p2", 2, 20)]),
        (
            "profiles",
            [
                {"external_id": k("p2"), "attributes": {"tier": "gold"}},
                {"external_id": k("p3"), "attributes": {"tier": None}},
            ],
        ),
        (
            "subscriptions",
            [
                {
                    "external_id": k("p1"),
                    "channel": "email",
                    "status": "unsubscribed",
                    "updated_at": "2026-04-03T00:00:00Z",
                }
            ],
        ),
        ("events", [buy("p1", 4, 6), buy("new", 4, 50)]),  # an unknown id creates a profile
        ("identify", k("p4")),
        ("events", []),  # nothing changed but time: the 7-day window moves on
        ("delete", None),
    ]
    day = 3
    for kind, rows in steps:
        if kind == "identify":
            sp.ok("identify", rows, "--attr", "tier=gold")
        elif kind == "delete":
            sp.ok("grant", "root", "profiles:view", "profiles:edit")
            target = k("not-gold")
            count = len(stored(sp, target))
            name = sp.show(target)["name"]
            sp.ok("delete-profiles", target, "--confirm", name, "--expect", count, "--actor", "root", "--max-share", 1)
        elif rows:
            sp.ok("load", kind, jsonl(sp, rows))
        day += 2
        # a deletion refreshes its segment now (and what it references): time moves on to now with it
        when = () if kind == "delete" else ("--as-of", f"2026-04-{day:02d}T00:00:00Z")
        results = {r["key"]: r for r in sp.ok("refresh", *keys, *when)}
        as_of = results[keys[0]]["as_of"]
        for key in keys:
            assert results[key]["status"] == "succeeded", results[key]
            assert stored(sp, key) == oracle(sp, engine, key, as_of), (kind, key, as_of)
            assert results[key]["member_count"] == len(stored(sp, key))
    modes = {run.get("mode") for key in keys for run in sp.ok("segment", "history", key)["refreshes"]}
    assert "incremental" in modes, modes
