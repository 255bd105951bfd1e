"""Contract §2 (input files) checked through the CLI only, the way an external acceptance suite would."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest

from tests.acceptance.blackbox import Segpipe, error_line, view

AS_OF = "2026-03-01T00:00:00Z"


@pytest.fixture()
def sp(cli, tmp_path):
    return Segpipe(cli, tmp_path)


def _everyone_count(sp: Segpipe) -> int:
    return len(view(sp, "external_id"))


# --- kinds, paths and formats ----------------------------------------------------------------------------------


def test_unknown_kind_is_exit_2(sp):
    path = sp.jsonl([{"external_id": sp.id("a")}])
    result = sp.run("load", "people", path)
    assert result.exit_code == 2
    error_line(result)


@pytest.mark.parametrize("suffix", [".json", ".txt", ".csv.gz"])
def test_unsupported_extension_is_exit_2(sp, suffix):
    path = sp.jsonl([{"external_id": sp.id("a")}], suffix=suffix)
    result = sp.run("load", "profiles", path)
    assert result.exit_code == 2
    error_line(result)


def test_missing_file_is_exit_2_with_json_error_object(sp):
    result = sp.run("load", "profiles", sp.dir / "nope.csv", "--json")
    assert result.exit_code == 2
    error_line(result)
    assert "error" in json.loads(result.stdout)


@pytest.mark.parametrize("suffix", [".jsonl", ".ndjson", ".JSONL"])
def test_json_lines_by_extension(sp, suffix):
    sp.load("profiles", sp.jsonl([{"external_id": sp.id("a"), "attributes": {"x": 1}}], suffix=suffix))
    assert view(sp)["a"]["attributes"] == {"x": 1}


def test_stdin_reads_json_lines(sp):
    text = json.dumps({"external_id": sp.id("a"), "email": "a@x.io"}) + "\n"
    out = sp.load("profiles", "-", input=text)
    assert view(sp)["a"]["email"] == "a@x.io"
    assert out["inserted"] == 1


def test_stdin_error_names_stdin_and_line(sp):
    text = json.dumps({"external_id": sp.id("a")}) + "\n" + json.dumps({"email": "x"}) + "\n"
    result = sp.run("load", "profiles", "-", input=text)
    assert result.exit_code == 2
    assert ":2:" in error_line(result)


def test_csv_attributes_column_is_json_encoded(sp):
    path = sp.csv(
        ["external_id", "email", "created_at", "attributes"],
        [
            [
                sp.id("a"),
                "a@x.io",
                "2026-01-02T03:04:05Z",
                json.dumps({"plan": "pro", "n": 5, "ok": True, "d": {"k": [1]}}),
            ]
        ],
    )
    sp.load("profiles", path)
    row = view(sp)["a"]
    assert row["attributes"] == {"plan": "pro", "n": 5, "ok": True, "d": {"k": [1]}}
    assert row["email"] == "a@x.io"
    assert row["created_at"] == "2026-01-02T03:04:05Z"


def test_parquet_profiles_and_events(sp):
    sp.load(
        "profiles",
        sp.parquet([{"external_id": sp.id("a"), "email": "a@x.io", "attributes": json.dumps({"n": 1})}]),
    )
    events = [
        {
            "external_id": sp.id("a"),
            "event": "buy",
            "occurred_at": dt.datetime(2026, 2, 1, 12),
            "properties": '{"v": 3}',
        },
        {"external_id": sp.id("b"), "event": "buy", "occurred_at": "2026-02-01T12:00:00Z", "properties": None},
    ]
    schema = pa.schema(
        [
            ("external_id", pa.string()),
            ("event", pa.string()),
            ("occurred_at", pa.string()),
            ("properties", pa.string()),
        ]
    )
    events[0]["occurred_at"] = "2026-02-01T12:00:00"
    sp.load("events", sp.parquet(events, schema))
    assert view(sp)["a"]["attributes"] == {"n": 1}
    assert sp.match({"event": "buy", "aggregate": "sum", "property": "v", "op": "eq", "value": 3}) == {"a"}
    assert sp.match({"event": "buy"}) == {"a", "b"}


# --- timestamps ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2026-01-02T03:04:05", "2026-01-02T03:04:05Z"),
        ("2026-01-02 03:04:05", "2026-01-02T03:04:05Z"),
        ("2026-01-02T03:04:05Z", "2026-01-02T03:04:05Z"),
        ("2026-01-02T08:34:05+05:30", "2026-01-02T03:04:05Z"),
        ("2026-01-01T22:04:05-05:00", "2026-01-02T03:04:05Z"),
        ("2026-01-02T03:04:05.25Z", "2026-01-02T03:04:05.250000Z"),
        ("2026-01-02T03:04:05.123456+00:00", "2026-01-02T03:04:05.123456Z"),
        ("2026-01-02T03:04:05.5", "2026-01-02T03:04:05.500000Z"),
    ],
)
def test_timestamps_without_offset_are_utc_and_offsets_apply(sp, text, utc):
    sp.load_rows("profiles", [{"external_id": sp.id("a"), "created_at": text}])
    assert view(sp)["a"]["created_at"] == utc


def test_csv_timestamps_are_utc_without_offset(sp):
    sp.load("profiles", sp.csv(["external_id", "created_at"], [[sp.id("a"), "2026-01-02T03:04:05"]]))
    assert view(sp)["a"]["created_at"] == "2026-01-02T03:04:05Z"


def test_event_time_without_offset_is_utc_at_the_as_of_boundary(sp):
    sp.load_rows("events", [{"external_id": sp.id("a"), "event": "e", "occurred_at": "2026-02-28T23:00:00"}])
    assert sp.match({"event": "e"}, "2026-02-28T23:00:00Z") == {"a"}
    assert sp.match({"event": "e"}, "2026-02-28T22:59:59.999999Z") == set()
    assert sp.match({"event": "e"}, "2026-02-28T23:30:00+00:30") == {"a"}
    assert sp.match({"event": "e"}, "2026-02-28T23:30:00+00:31") == set()


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-01T00:00:00Z", "2026-02-30", "1700000000", "01/02/2026", ""])
def test_bad_timestamp_is_a_row_error(sp, bad):
    path = sp.jsonl(
        [
            {"external_id": sp.id("a"), "event": "e", "occurred_at": "2026-01-01T00:00:00Z"},
            {"external_id": sp.id("b"), "event": "e", "occurred_at": bad},
        ]
    )
    result = sp.run("load", "events", path)
    assert result.exit_code == 2
    line = error_line(result)
    assert f"{path}:2:" in line and "occurred_at" in line
    assert _everyone_count(sp) == 0


# --- profiles --------------------------------------------------------------------------------------------------


def test_profile_upsert_merges_attributes_key_by_key_and_null_removes(sp):
    sp.load_rows(
        "profiles", [{"external_id": sp.id("a"), "email": "a@x.io", "attributes": {"a": 1, "b": 2, "c": {"x": 1}}}]
    )
    sp.load_rows("profiles", [{"external_id": sp.id("a"), "attributes": {"a": None, "c": {"y": 2}, "d": "new"}}])
    row = view(sp)["a"]
    assert row["attributes"] == {"b": 2, "c": {"y": 2}, "d": "new"}
    assert row["email"] == "a@x.io"


def test_profile_rows_in_one_file_apply_in_order(sp):
    eid = sp.id("a")
    sp.load_rows(
        "profiles",
        [
            {"external_id": eid, "attributes": {"a": 1, "b": 2}},
            {"external_id": eid, "attributes": {"a": None, "c": 3}},
            {"external_id": eid, "attributes": {"a": 4}, "email": "last@x.io"},
        ],
    )
    row = view(sp)["a"]
    assert row["attributes"] == {"a": 4, "b": 2, "c": 3}
    assert row["email"] == "last@x.io"


def test_csv_null_in_attributes_removes_the_key(sp):
    sp.load_rows("profiles", [{"external_id": sp.id("a"), "attributes": {"a": 1, "b": 2}}])
    sp.load("profiles", sp.csv(["external_id", "attributes"], [[sp.id("a"), '{"a": null}']]))
    assert view(sp)["a"]["attributes"] == {"b": 2}


def test_profile_without_created_at_gets_the_load_time(sp):
    before = dt.datetime.now(dt.UTC)
    sp.load_rows("profiles", [{"external_id": sp.id("a")}])
    after = dt.datetime.now(dt.UTC)
    created = dt.datetime.fromisoformat(view(sp)["a"]["created_at"].replace("Z", "+00:00"))
    assert before - dt.timedelta(seconds=1) <= created <= after + dt.timedelta(seconds=1)


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"attributes": {"a": 1}}, "external_id"),
        ({"external_id": None}, "external_id"),
        ({"external_id": "", "attributes": {}}, "external_id"),
        ({"external_id": "X", "attributes": [1, 2]}, "attributes"),
        ({"external_id": "X", "attributes": "plain"}, "attributes"),
        ({"external_id": "X", "attributes": 5}, "attributes"),
        ({"external_id": "X", "created_at": "not a time"}, "created_at"),
    ],
)
def test_invalid_profile_row_aborts_with_file_row_reason(sp, record, reason):
    if record.get("external_id") == "X":
        record["external_id"] = sp.id("x")
    path = sp.jsonl([{"external_id": sp.id("ok1")}, "", {"external_id": sp.id("ok2")}, record])
    result = sp.run("load", "profiles", path)
    assert result.exit_code == 2
    line = error_line(result)
    assert line.startswith(f"error: {path}:4: ")  # JSON Lines: the line number, blank lines counted
    assert reason in line
    assert _everyone_count(sp) == 0  # atomic: nothing written


def test_csv_attributes_not_an_object_is_a_row_error_counted_after_the_header(sp):
    path = sp.csv(
        ["external_id", "attributes"],
        [[sp.id("a"), "{}"], [sp.id("b"), '"multi\nline"'], [sp.id("c"), "[1]"]],
    )
    result = sp.run("load", "profiles", path)
    assert result.exit_code == 2
    line = error_line(result)
    assert line.startswith(f"error: {path}:2: ")
    assert "attributes" in line
    assert _everyone_count(sp) == 0


def test_csv_row_number_is_the_data_row_not_the_line(sp):
    path = sp.csv(
        ["external_id", "attributes"],
        [[sp.id("a"), '{"note":\n"two lines"}'], [sp.id("b"), "{}"], [sp.id("c"), "[1]"]],
    )
    result = sp.run("load", "profiles", path, "--json")
    assert result.exit_code == 2
    assert f"{path}:3:" in error_line(result)
    assert f"{path}:3:" in json.loads(result.stdout)["error"]


def test_parquet_row_number_is_index_plus_one(sp):
    path = sp.parquet(
        [{"external_id": sp.id(f"p{i}"), "attributes": "{}"} for i in range(5)]
        + [{"external_id": sp.id("bad"), "attributes": "[1]"}]
    )
    result = sp.run("load", "profiles", path)
    assert result.exit_code == 2
    assert error_line(result).startswith(f"error: {path}:6: ")
    assert _everyone_count(sp) == 0


# --- events ----------------------------------------------------------------------------------------------------


def test_events_append_and_unknown_external_id_creates_profile_now(sp):
    before = dt.datetime.now(dt.UTC)
    out = sp.load_rows(
        "events",
        [
            {"external_id": sp.id("new"), "event": "login", "occurred_at": "2026-01-01T00:00:00Z"},
            {"external_id": sp.id("new"), "event": "login", "occurred_at": "2026-01-02T00:00:00Z"},
        ],
    )
    after = dt.datetime.now(dt.UTC)
    assert out["profiles_created"] == 1
    row = view(sp)["new"]
    created = dt.datetime.fromisoformat(row["created_at"].replace("Z", "+00:00"))
    assert before - dt.timedelta(seconds=1) <= created <= after + dt.timedelta(seconds=1)
    assert row["attributes"] == {} and row["email"] is None
    assert sp.match({"event": "login", "op": "eq", "value": 2}) == {"new"}


def test_repeated_event_id_keeps_the_first_copy_within_and_across_files(sp):
    a = sp.id("a")
    sp.load_rows(
        "events",
        [
            {
                "external_id": a,
                "event": "buy",
                "occurred_at": "2026-02-10T00:00:00Z",
                "properties": {"v": 1},
                "event_id": "e1",
            },
            {
                "external_id": a,
                "event": "buy",
                "occurred_at": "2026-01-10T00:00:00Z",
                "properties": {"v": 100},
                "event_id": "e1",
            },
        ],
    )
    sp.load(
        "events",
        sp.csv(
            ["external_id", "event", "occurred_at", "properties", "event_id"],
            [
                [a, "buy", "2026-01-01T00:00:00Z", '{"v": 1000}', "e1"],
                [a, "buy", "2026-02-11T00:00:00Z", '{"v": 5}', "e2"],
            ],
        ),
    )
    agg = {"event": "buy", "aggregate": "sum", "property": "v"}
    assert sp.match({**agg, "op": "eq", "value": 6}) == {"a"}
    assert sp.match({"event": "buy", "op": "eq", "value": 2}) == {"a"}
    # the first copy's occurred_at (2026-02-10) is the one kept, not the earliest
    assert sp.match({"event": "buy", "op": "eq", "value": 0}, "2026-02-09T00:00:00Z") == {"a"}


def test_event_id_is_scoped_globally_and_events_without_id_always_append(sp):
    sp.load_rows(
        "events",
        [
            {"external_id": sp.id("a"), "event": "e", "occurred_at": "2026-01-01T00:00:00Z", "event_id": sp.tag + "x"},
            {"external_id": sp.id("b"), "event": "e", "occurred_at": "2026-01-01T00:00:00Z", "event_id": sp.tag + "x"},
            {"external_id": sp.id("b"), "event": "f", "occurred_at": "2026-01-01T00:00:00Z"},
        ],
    )
    sp.load_rows("events", [{"external_id": sp.id("b"), "event": "f", "occurred_at": "2026-01-01T00:00:00Z"}])
    assert sp.match({"event": "e"}) == {"a"}
    assert sp.match({"event": "f", "op": "eq", "value": 2}) == {"b"}
    assert set(view(sp)) == {"a", "b"}  # b was created by its events, including the ignored duplicate


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"event": "e", "occurred_at": "2026-01-01T00:00:00Z"}, "external_id"),
        ({"external_id": "X", "occurred_at": "2026-01-01T00:00:00Z"}, "event"),
        ({"external_id": "X", "event": "e"}, "occurred_at"),
        ({"external_id": "X", "event": "e", "occurred_at": "2026-01-01T00:00:00Z", "properties": [1]}, "properties"),
    ],
)
def test_invalid_event_row(sp, record, reason):
    if record.get("external_id") == "X":
        record["external_id"] = sp.id("x")
    path = sp.jsonl([{"external_id": sp.id("ok"), "event": "e", "occurred_at": "2026-01-01T00:00:00Z"}, record])
    result = sp.run("load", "events", path)
    assert result.exit_code == 2
    line = error_line(result)
    assert line.startswith(f"error: {path}:2: ") and reason in line
    assert _everyone_count(sp) == 0  # the profile the first row would have created is not there


# --- subscriptions ---------------------------------------------------------------------------------------------


def test_subscriptions_latest_updated_at_wins_whatever_the_order(sp):
    a, b, c = sp.id("a"), sp.id("b"), sp.id("c")
    sp.load_rows(
        "subscriptions",
        [
            {"external_id": a, "channel": "email", "status": "unsubscribed", "updated_at": "2026-02-01T00:00:00Z"},
            {"external_id": a, "channel": "email", "status": "subscribed", "updated_at": "2026-01-01T00:00:00Z"},
            {"external_id": b, "channel": "email", "status": "subscribed", "updated_at": "2026-02-01T00:00:00Z"},
            {"external_id": b, "channel": "sms", "status": "unsubscribed", "updated_at": "2026-02-01T00:00:00Z"},
        ],
    )
    # a later file with an older record does not win
    sp.load_rows(
        "subscriptions",
        [{"external_id": a, "channel": "email", "status": "subscribed", "updated_at": "2026-01-15T00:00:00+05:30"}],
    )
    sp.load_rows("profiles", [{"external_id": c}])
    unsub = {"subscription": "email", "status": "unsubscribed"}
    assert sp.match(unsub) == {"a"}
    assert sp.match({"subscription": "email", "status": "subscribed"}) == {"b", "c"}
    assert sp.match({"subscription": "sms", "status": "subscribed"}) == {"a", "c"}
    # as of a time before the unsubscribe, the older record is the latest
    assert sp.match(unsub, "2026-01-31T23:59:59Z") == set()
    assert sp.match(unsub, "2026-02-01T00:00:00Z") == {"a"}


def test_subscription_tie_on_updated_at_later_row_wins(sp):
    a = sp.id("a")
    sp.load_rows(
        "subscriptions",
        [
            {"external_id": a, "channel": "push", "status": "subscribed", "updated_at": "2026-01-01T00:00:00Z"},
            {"external_id": a, "channel": "push", "status": "unsubscribed", "updated_at": "2026-01-01T00:00:00Z"},
        ],
    )
    assert sp.match({"subscription": "push", "status": "unsubscribed"}) == {"a"}


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"channel": "fax", "status": "subscribed"}, "channel"),
        ({"channel": "Email", "status": "subscribed"}, "channel"),
        ({"channel": "email", "status": "yes"}, "status"),
        ({"channel": "email", "status": "subscribed", "updated_at": None}, "updated_at"),
    ],
)
def test_invalid_subscription_row(sp, record, reason):
    record = {"external_id": sp.id("a"), "updated_at": "2026-01-01T00:00:00Z", **record}
    path = sp.jsonl([record])
    result = sp.run("load", "subscriptions", path)
    assert result.exit_code == 2
    line = error_line(result)
    assert line.startswith(f"error: {path}:1: ") and reason in line


# --- activity --------------------------------------------------------------------------------------------------


def test_activity_counts_by_kind(sp):
    camp = sp.tag + "camp"
    rows = [
        {"external_id": sp.id("a"), "campaign": camp, "kind": kind, "occurred_at": "2026-01-01T00:00:00Z"}
        for kind in ("sent", "sent", "open", "click")
    ]
    sp.load_rows("profiles", [{"external_id": sp.id("a")}])
    out = sp.load_rows("activity", rows)
    assert out["profiles_created"] == 0  # §7: activity never creates a profile
    stats = sp.ok("campaign", "stats", camp)
    assert stats["sent"] == 1 and stats["open"] == 1 and stats["click"] == 1  # §7: unique on the natural key
    assert stats.get("bounce", 0) == 0
    bad = sp.jsonl([{**rows[0], "kind": "opened"}])
    assert sp.run("load", "activity", bad).exit_code == 2


# --- --skip-invalid --------------------------------------------------------------------------------------------


def test_skip_invalid_writes_valid_rows_and_rejects_beside_the_input(sp):
    path = sp.jsonl(
        [
            {"external_id": sp.id("a")},
            {"external_id": sp.id("b"), "attributes": [1]},
            "not json",
            {"external_id": sp.id("c"), "created_at": "2026-01-01T00:00:00"},
        ]
    )
    before = set(p.name for p in path.parent.iterdir())
    result = sp.run("load", "profiles", path, "--skip-invalid", "--json")
    assert result.exit_code == 2, result.stderr  # invalid rows were skipped: still invalid input
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    out = json.loads(result.stdout)
    new_files = [p for p in path.parent.iterdir() if p.name not in before]
    assert out["rejected"] == 2 and "error" in out
    assert set(view(sp)) == {"a", "c"}
    assert len(new_files) == 1 and new_files[0].parent == path.parent
    rejects = [json.loads(line) for line in new_files[0].read_text().splitlines()]
    assert [r["row"] for r in rejects] == [2, 3]


# --- identify --------------------------------------------------------------------------------------------------


def test_identify_creates_and_merges(sp):
    eid = sp.id("a")
    assert sp.run("identify", eid, "--attr", "plan=pro", "--attr", "n=5").exit_code == 0
    assert sp.run("identify", eid, "--attr", "plan=null", "--attr", "x=y").exit_code == 0
    assert view(sp)["a"]["attributes"] == {"n": 5, "x": "y"}


def test_parquet_timestamp_columns_naive_is_utc_and_aware_is_converted(sp):
    schema = pa.schema([("external_id", pa.string()), ("created_at", pa.timestamp("us"))])
    sp.load(
        "profiles", sp.parquet([{"external_id": sp.id("a"), "created_at": dt.datetime(2026, 1, 2, 3, 4, 5)}], schema)
    )
    aware = pa.schema([("external_id", pa.string()), ("created_at", pa.timestamp("ms", tz="Asia/Kolkata"))])
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    sp.load("profiles", sp.parquet([{"external_id": sp.id("b"), "created_at": when}], aware))
    rows = view(sp)
    assert rows["a"]["created_at"] == "2026-01-02T03:04:05Z"
    assert rows["b"]["created_at"] == "2026-01-02T03:04:05Z"


def test_csv_with_bom_and_crlf(sp):
    path = sp.path(".csv")
    text = "\ufeffexternal_id,email,attributes\r\n" + f'{sp.id("a")},a@x.io,"{{""k"": ""v""}}"\r\n'
    path.write_bytes(text.encode("utf-8"))
    sp.load("profiles", path)
    row = view(sp)["a"]
    assert row["email"] == "a@x.io" and row["attributes"] == {"k": "v"}


def test_jsonl_error_row_counts_blank_lines_and_crlf(sp):
    path = sp.path(".jsonl")
    good = json.dumps({"external_id": sp.id("a")})
    path.write_bytes(f"{good}\r\n\r\n\r\n{{broken\r\n".encode())
    result = sp.run("load", "profiles", path)
    assert result.exit_code == 2
    assert error_line(result).startswith(f"error: {path}:4: ")


def test_deleted_profile_identified_again_is_new_and_activity_survives(sp):
    # Enough other profiles that the deletion stays under the max-share gate.
    sp.load_rows("profiles", [{"external_id": sp.id(f"keep{i}")} for i in range(4)])
    gone, camp = sp.id("gone"), sp.tag + "camp"
    sp.load_rows(
        "profiles",
        [
            {
                "external_id": gone,
                "email": "g@x.io",
                "created_at": "2020-01-01T00:00:00Z",
                "attributes": {"doomed": True},
            }
        ],
    )
    sp.load_rows(
        "events",
        [{"external_id": gone, "event": "buy", "occurred_at": "2026-01-01T00:00:00Z", "event_id": sp.tag + "e1"}],
    )
    sp.load_rows(
        "subscriptions",
        [{"external_id": gone, "channel": "email", "status": "unsubscribed", "updated_at": "2026-01-01T00:00:00Z"}],
    )
    sp.load_rows(
        "activity", [{"external_id": gone, "campaign": camp, "kind": "open", "occurred_at": "2026-01-01T00:00:00Z"}]
    )
    old_id = sp.ok("identify", gone)["profile_id"]
    doomed = sp.segment("doomed", {"attribute": "doomed", "op": "eq", "value": True})
    assert sp.refresh(doomed, AS_OF)["member_count"] == 1
    actor = sp.tag + "admin"
    assert sp.run("grant", actor, "profiles:view", "profiles:edit").exit_code == 0
    deleted = sp.run("delete-profiles", doomed, "--confirm", doomed, "--expect", "1", "--actor", actor, "--json")
    assert deleted.exit_code == 0, deleted.stdout + deleted.stderr
    assert sp.ok("campaign", "stats", camp)["open"] == 1

    before = dt.datetime.now(dt.UTC)
    again = sp.ok("identify", gone)
    assert again["created"] is True and again["profile_id"] != old_id
    row = view(sp)["gone"]
    assert row["attributes"] == {} and row["email"] is None
    assert dt.datetime.fromisoformat(row["created_at"].replace("Z", "+00:00")) >= before - dt.timedelta(seconds=1)
    assert "gone" in sp.match({"subscription": "email", "status": "subscribed"})
    assert "gone" in sp.match({"event": "buy", "op": "eq", "value": 0})
    assert sp.ok("campaign", "stats", camp)["open"] == 1
    # the old event_id no longer blocks the new profile's event
    sp.load_rows(
        "events",
        [{"external_id": gone, "event": "buy", "occurred_at": "2026-01-02T00:00:00Z", "event_id": sp.tag + "e1"}],
    )
    assert "gone" in sp.match({"event": "buy"})


def test_first_commands_on_an_empty_database_migrate_once_concurrently(server_url, tmp_path):
    """§1: every command brings the schema up to date first, safely when several start at once."""
    import os
    import subprocess
    import sys
    import uuid
    from pathlib import Path

    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    name = f"segpipe_acc_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        url = make_url(server_url).set(drivername="postgresql+psycopg", database=name)
        env = {**os.environ, "SEGPIPE_DATABASE_URL": url.render_as_string(hide_password=False)}
        env.update(SEGPIPE_HOME=str(tmp_path / "home"), SEGPIPE_ORCHESTRATION="direct")
        segpipe = str(Path(sys.executable).with_name("segpipe"))
        procs = []
        for i in range(3):
            path = tmp_path / f"p{i}.jsonl"
            path.write_text(json.dumps({"external_id": f"x{i}", "attributes": {"i": i}}) + "\n")
            args = [segpipe, "load", "profiles", str(path), "--json"]
            procs.append(subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err.decode()
            assert json.loads(out)["inserted"] == 1
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.mark.parametrize(("kind", "field"), [("profiles", "external_id"), ("events", "event"), ("events", "event_id")])
def test_oversized_keys_are_row_errors_not_database_failures(sp, kind, field):
    import random
    import string

    huge = "".join(random.choice(string.ascii_letters) for _ in range(3000))
    record = {"external_id": sp.id("a"), "event": "e", "occurred_at": "2026-01-01T00:00:00Z", field: huge}
    ok = {"external_id": sp.id("ok"), "event": "e", "occurred_at": "2026-01-01T00:00:00Z"}
    path = sp.jsonl([ok, record])
    result = sp.run("load", kind, path)
    assert result.exit_code == 2, result.stderr
    assert error_line(result).startswith(f"error: {path}:2: {field}")
