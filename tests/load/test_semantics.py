"""What a load does to the data: upserts, attribute merge, event dedupe, subscription history, new profiles."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from segpipe.tracking import identify, track
from tests.load.helpers import counts, data_version, load_json, profile, rows, write_jsonl

LATEST_SUBSCRIPTION = (
    "SELECT DISTINCT ON (s.channel) s.channel, s.status FROM segpipe.subscriptions s"
    " JOIN segpipe.profiles p ON p.id = s.profile_id WHERE p.external_id = :x"
    " ORDER BY s.channel, s.updated_at DESC, s.id DESC"
)


def test_attributes_merge_key_by_key_and_null_removes(clean, cli, tmp_path):
    load_json(
        cli,
        "profiles",
        write_jsonl(tmp_path / "a.jsonl", [{"external_id": "m", "attributes": {"a": 1, "b": 2, "c": {"x": 1}}}]),
    )
    out = load_json(
        cli,
        "profiles",
        write_jsonl(tmp_path / "b.jsonl", [{"external_id": "m", "attributes": {"b": None, "c": {"y": None}, "d": 4}}]),
    )
    assert (out["inserted"], out["updated"], out["unchanged"]) == (0, 1, 0)
    # top-level keys merge; a nested object is a value (replaced whole, its nulls kept)
    assert profile(clean, "m")["attributes"] == {"a": 1, "c": {"y": None}, "d": 4}
    out = load_json(
        cli, "profiles", write_jsonl(tmp_path / "c.jsonl", [{"external_id": "m", "attributes": {"zzz": None}}])
    )
    assert (out["updated"], out["unchanged"]) == (0, 1)


def test_rows_of_one_profile_in_one_file_apply_in_order(clean, cli, tmp_path):
    records = [
        {"external_id": "f", "email": "one@x", "attributes": {"a": 1, "b": 2}},
        {"external_id": "other", "attributes": {"a": 0}},
        {"external_id": "f", "attributes": {"a": None, "c": 3}, "created_at": "2020-01-01T00:00:00Z"},
        {"external_id": "f", "attributes": {"a": 4}},
        {"external_id": "f", "email": "two@x", "attributes": {"b": None}},
    ]
    out = load_json(cli, "profiles", write_jsonl(tmp_path / "p.jsonl", records))
    assert (out["rows"], out["inserted"]) == (5, 2)
    f = profile(clean, "f")
    assert f["attributes"] == {"a": 4, "c": 3} and f["email"] == "two@x"
    assert f["created_at"] == datetime(2020, 1, 1, tzinfo=UTC)
    # the same sequence against an existing profile
    load_json(
        cli, "profiles", write_jsonl(tmp_path / "q.jsonl", [{"external_id": "f", "attributes": {"b": 9, "z": 1}}])
    )
    load_json(cli, "profiles", write_jsonl(tmp_path / "p.jsonl", records))
    assert profile(clean, "f")["attributes"] == {"a": 4, "c": 3, "z": 1}


def test_email_missing_keeps_null_clears(clean, cli, tmp_path):
    load_json(cli, "profiles", write_jsonl(tmp_path / "a.jsonl", [{"external_id": "e", "email": "e@x"}]))
    load_json(cli, "profiles", write_jsonl(tmp_path / "b.jsonl", [{"external_id": "e", "attributes": {"k": 1}}]))
    assert profile(clean, "e")["email"] == "e@x"
    csv = tmp_path / "c.csv"
    csv.write_text("external_id,email,created_at,attributes\ne,,,\n", encoding="utf-8")
    load_json(cli, "profiles", csv)
    assert profile(clean, "e")["email"] == "e@x" and profile(clean, "e")["attributes"] == {"k": 1}
    load_json(cli, "profiles", write_jsonl(tmp_path / "d.jsonl", [{"external_id": "e", "email": None}]))
    assert profile(clean, "e")["email"] is None


def test_created_at_defaults_to_now_and_updates_when_given(clean, cli, tmp_path):
    before = datetime.now(UTC) - timedelta(seconds=5)
    load_json(cli, "profiles", write_jsonl(tmp_path / "a.jsonl", [{"external_id": "c"}]))
    created = profile(clean, "c")["created_at"]
    assert before <= created <= datetime.now(UTC) + timedelta(seconds=5)
    load_json(
        cli,
        "profiles",
        write_jsonl(tmp_path / "b.jsonl", [{"external_id": "c", "created_at": "2021-06-01T12:00:00+02:00"}]),
    )
    assert profile(clean, "c")["created_at"] == datetime(2021, 6, 1, 10, tzinfo=UTC)
    load_json(cli, "profiles", write_jsonl(tmp_path / "c.jsonl", [{"external_id": "c", "created_at": None}]))
    assert profile(clean, "c")["created_at"] == datetime(2021, 6, 1, 10, tzinfo=UTC)


def test_data_version_moves_only_when_data_changes(clean, cli, tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [{"external_id": "v", "attributes": {"a": 1}}])
    start = data_version(clean)
    load_json(cli, "profiles", path)
    after_first = data_version(clean)
    assert after_first > start
    assert load_json(cli, "profiles", path)["unchanged"] == 1
    assert data_version(clean) == after_first


def test_event_id_dedupe_within_file_and_across_loads(clean, cli, tmp_path):
    base = {"event": "purchase", "occurred_at": "2024-05-01T10:00:00Z"}
    first = [
        {**base, "external_id": "u1", "event_id": "e1", "properties": {"copy": 1}},
        {**base, "external_id": "u2", "event_id": "e1", "properties": {"copy": 2}},
        {**base, "external_id": "u1", "event_id": "e2"},
        {**base, "external_id": "u1"},
        {**base, "external_id": "u1"},
    ]
    out = load_json(cli, "events", write_jsonl(tmp_path / "a.jsonl", first))
    assert (out["inserted"], out["skipped_duplicates"], out["profiles_created"]) == (4, 1, 2)
    assert rows(clean, "SELECT properties FROM segpipe.events WHERE event_id = 'e1'") == [({"copy": 1},)]
    second = [{**base, "external_id": "u1", "event_id": "e2"}, {**base, "external_id": "u3", "event_id": "e3"}]
    out = load_json(cli, "events", write_jsonl(tmp_path / "b.jsonl", second))
    assert (out["inserted"], out["skipped_duplicates"], out["already_known"]) == (1, 1, 1)
    assert counts(clean)["events"] == 5 and counts(clean)["event_ids"] == 3
    assert rows(clean, "SELECT count(*) FROM segpipe.events WHERE event_id IS NULL") == [(2,)]
    # a reload of the same rows changes nothing (§7, load/ledger.py), events without an id included
    out = load_json(cli, "events", write_jsonl(tmp_path / "a.jsonl", first))
    assert (out["inserted"], out["already_known"], out["skipped_duplicates"]) == (0, 5, 5)
    assert counts(clean)["events"] == 5
    # other content stores no event with an event_id again; events without one are appended (contract §2)
    out = load_json(cli, "events", write_jsonl(tmp_path / "c.jsonl", [*first, {**base, "external_id": "u3"}]))
    assert (out["inserted"], out["already_known"], out["skipped_duplicates"]) == (3, 2, 3)
    assert counts(clean)["events"] == 8


def test_integer_event_ids_and_external_ids_are_text(clean, cli, tmp_path):
    records = [{"external_id": 42, "event": "x", "occurred_at": "2024-01-01", "event_id": 7}]
    load_json(cli, "events", write_jsonl(tmp_path / "a.jsonl", records))
    load_json(cli, "events", write_jsonl(tmp_path / "b.jsonl", [{**records[0], "event_id": "7"}]))
    assert rows(
        clean, "SELECT p.external_id, e.event_id FROM segpipe.events e JOIN segpipe.profiles p ON p.id = e.profile_id"
    ) == [("42", "7")]


def test_unknown_external_ids_create_profiles(clean, cli, tmp_path):
    before = datetime.now(UTC) - timedelta(seconds=5)
    sub = {"channel": "email", "status": "subscribed", "updated_at": "2024-01-01T00:00:00Z"}
    act = {"campaign": "c1", "kind": "sent", "occurred_at": "2024-01-01T00:00:00Z"}
    load_json(cli, "profiles", write_jsonl(tmp_path / "p.jsonl", [{"external_id": "known", "attributes": {"k": 1}}]))
    out = load_json(
        cli,
        "subscriptions",
        write_jsonl(tmp_path / "s.jsonl", [{**sub, "external_id": "s-new"}, {**sub, "external_id": "known"}]),
    )
    assert out["profiles_created"] == 1 and out["inserted"] == 2
    p = profile(clean, "s-new")
    assert p["attributes"] == {} and p["email"] is None and p["created_at"] >= before
    assert profile(clean, "known")["attributes"] == {"k": 1}
    # activity is the exception: an unknown external_id is an invalid row, never a new profile
    result = cli("load", "activity", str(write_jsonl(tmp_path / "a.jsonl", [{**act, "external_id": "a-new"}])))
    assert result.exit_code == 2 and "a.jsonl:1: unknown external_id 'a-new'" in result.stderr
    assert profile(clean, "a-new") is None


def test_latest_subscription_wins_out_of_order(clean, cli, tmp_path):
    records = [
        {"external_id": "s", "channel": "email", "status": "unsubscribed", "updated_at": "2024-03-01T00:00:00Z"},
        {"external_id": "s", "channel": "email", "status": "subscribed", "updated_at": "2024-01-01T00:00:00Z"},
        {"external_id": "s", "channel": "sms", "status": "unsubscribed", "updated_at": "2024-01-01T00:00:00Z"},
    ]
    load_json(cli, "subscriptions", write_jsonl(tmp_path / "a.jsonl", records))
    assert rows(clean, LATEST_SUBSCRIPTION, x="s") == [("email", "unsubscribed"), ("sms", "unsubscribed")]
    # an older record loaded later does not win; a newer one does
    late = [
        {"external_id": "s", "channel": "email", "status": "subscribed", "updated_at": "2024-02-01T00:00:00Z"},
        {"external_id": "s", "channel": "sms", "status": "subscribed", "updated_at": "2024-02-01T00:00:00+01:00"},
    ]
    load_json(cli, "subscriptions", write_jsonl(tmp_path / "b.jsonl", late))
    assert rows(clean, LATEST_SUBSCRIPTION, x="s") == [("email", "unsubscribed"), ("sms", "subscribed")]
    assert counts(clean)["subscriptions"] == 5  # history is kept


def test_subscription_reload_is_idempotent_and_ties_go_to_the_later_row(clean, cli, tmp_path):
    at = "2024-01-01T00:00:00Z"
    records = [
        {"external_id": "t", "channel": "push", "status": "subscribed", "updated_at": at},
        {"external_id": "t", "channel": "push", "status": "unsubscribed", "updated_at": at},
    ]
    path = write_jsonl(tmp_path / "a.jsonl", records)
    assert load_json(cli, "subscriptions", path)["inserted"] == 2
    assert rows(clean, LATEST_SUBSCRIPTION, x="t") == [("push", "unsubscribed")]
    out = load_json(cli, "subscriptions", path)
    assert (out["inserted"], out["skipped_duplicates"]) == (0, 2)


def test_activity_is_stored_once_per_key(clean, cli, tmp_path):
    load_json(cli, "profiles", write_jsonl(tmp_path / "p.jsonl", [{"external_id": "a"}]))
    act = {"external_id": "a", "campaign": "c1", "kind": "open", "occurred_at": "2024-01-01T00:00:00Z"}
    path = write_jsonl(tmp_path / "a.jsonl", [act, act])
    out = load_json(cli, "activity", path)
    assert (out["inserted"], out["already_known"], out["skipped_duplicates"]) == (1, 0, 1)
    assert counts(clean)["activity"] == 1


def _delete_profile(engine, external_id: str) -> None:
    """What a profile deletion does, with plain SQL; event_ids rows are left behind on purpose (stale)."""
    with engine.begin() as conn:
        (pid,) = conn.execute(
            sa.text("SELECT id FROM segpipe.profiles WHERE external_id = :x"), {"x": external_id}
        ).one()
        conn.execute(sa.text("DELETE FROM segpipe.events WHERE profile_id = :p"), {"p": pid})
        conn.execute(sa.text("DELETE FROM segpipe.subscriptions WHERE profile_id = :p"), {"p": pid})
        conn.execute(
            sa.text("UPDATE segpipe.activity SET profile_id = NULL, anonymized_at = now() WHERE profile_id = :p"),
            {"p": pid},
        )
        conn.execute(sa.text("DELETE FROM segpipe.profiles WHERE id = :p"), {"p": pid})


def test_a_deleted_profile_comes_back_new(clean, cli, tmp_path, settings):
    load_json(
        cli,
        "profiles",
        write_jsonl(tmp_path / "p.jsonl", [{"external_id": "r", "email": "r@x", "attributes": {"vip": True}}]),
    )
    event = {"external_id": "r", "event": "purchase", "occurred_at": "2024-01-01T00:00:00Z", "event_id": "r-1"}
    load_json(cli, "events", write_jsonl(tmp_path / "e.jsonl", [event]))
    sub = {"external_id": "r", "channel": "email", "status": "unsubscribed", "updated_at": "2024-01-01T00:00:00Z"}
    load_json(cli, "subscriptions", write_jsonl(tmp_path / "s.jsonl", [sub]))
    old_id = profile(clean, "r")["id"]
    _delete_profile(clean, "r")

    again = identify("r", {"new": 1}, settings=settings)
    assert again.created and again.profile_id != old_id
    p = profile(clean, "r")
    assert p["id"] == again.profile_id and p["attributes"] == {"new": 1} and p["email"] is None
    assert rows(clean, LATEST_SUBSCRIPTION, x="r") == []  # no record: subscribed by default
    # the same file again changes nothing (load/ledger.py): a stale file does not bring the profile's data back
    assert load_json(cli, "events", write_jsonl(tmp_path / "e.jsonl", [event]))["inserted"] == 0
    # the stale event_ids row of the deleted profile does not swallow the event when it is sent again
    later = {**event, "event_id": "r-2", "occurred_at": "2024-02-01T00:00:00Z"}
    out = load_json(cli, "events", write_jsonl(tmp_path / "e2.jsonl", [event, later]))
    assert (out["inserted"], out["skipped_duplicates"]) == (2, 0)
    assert rows(clean, "SELECT profile_id FROM segpipe.event_ids WHERE event_id = 'r-1'") == [(again.profile_id,)]


def test_a_deleted_profile_tracked_or_loaded_again_is_new(clean, cli, tmp_path, settings):
    identify("t", {"a": 1}, email="t@x", settings=settings)
    first = track("t", "login", event_id="t-1", settings=settings)
    _delete_profile(clean, "t")
    second = track("t", "login", event_id="t-1", settings=settings)
    assert second.profile_created and second.recorded and second.profile_id != first.profile_id
    assert profile(clean, "t")["attributes"] == {}
    _delete_profile(clean, "t")
    out = load_json(
        cli,
        "subscriptions",
        write_jsonl(
            tmp_path / "s.jsonl",
            [{"external_id": "t", "channel": "sms", "status": "subscribed", "updated_at": "2024-01-01"}],
        ),
    )
    assert out["profiles_created"] == 1
    assert profile(clean, "t")["id"] not in (first.profile_id, second.profile_id)


def test_large_loads_analyze_the_tables(clean, cli, tmp_path):
    records = [{"external_id": f"bulk-{i}", "event": "view", "occurred_at": "2024-01-01T00:00:00Z"} for i in range(300)]
    out = load_json(cli, "events", write_jsonl(tmp_path / "a.jsonl", records))
    assert {"events", "profiles"} <= set(out["analyzed"])
    assert rows(
        clean, "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relid = 'segpipe.events'::regclass"
    ) == [(True,)]


def test_concurrent_loads_of_one_file_keep_each_event_once(clean, tmp_path):
    from segpipe.load.loader import load
    from segpipe.load.readers import open_source

    records = [
        {"external_id": f"c{i % 50}", "event": "view", "occurred_at": "2024-01-01T00:00:00Z", "event_id": f"c-{i}"}
        for i in range(500)
    ]
    path = write_jsonl(tmp_path / "a.jsonl", records)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            load(clean, "events", open_source(str(path)))
        except BaseException as exc:  # noqa: BLE001 (collected and asserted below)
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert counts(clean)["events"] == 500 and counts(clean)["profiles"] == 50
