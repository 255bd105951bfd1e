"""`segpipe quickstart` loads the demo, applies the demo objects, refreshes everything; a second run reuses it."""

from __future__ import annotations

import json


def test_quickstart_then_again(cli):
    first = cli("quickstart", "--profiles", "500", "--json")
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)
    assert {load["kind"] for load in data["loads"]} == {"profiles", "events", "subscriptions", "activity"}
    assert data["objects"] == {"created": 15}
    statuses = {row["key"]: row["status"] for row in data["refresh"]}
    assert statuses["high-value-de"] == "succeeded"
    assert set(statuses.values()) <= {"succeeded", "skipped"}

    again = json.loads(cli("quickstart", "--json").stdout)
    assert again["loads"] == [] and again["objects"] == {"unchanged": 15}
    members = {row["key"]: row["member_count"] for row in again["refresh"]}
    assert members == {row["key"]: row["member_count"] for row in data["refresh"]}
