"""Every input format (csv, jsonl, ndjson, parquet, stdin) for every kind, through the real CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.load.helpers import load_json, profile, rows, write_jsonl

PROFILES = [
    {
        "external_id": "p1",
        "email": "p1@example.com",
        "created_at": "2024-01-02T03:04:05Z",
        "attributes": {"tier": "gold"},
    },
    {"external_id": "p2", "attributes": {"n": 1.5, "tags": ["a", "b"], "nested": {"x": None}}},
]


def _check_profiles(engine) -> None:
    p1, p2 = profile(engine, "p1"), profile(engine, "p2")
    assert p1 is not None and p2 is not None
    assert p1["email"] == "p1@example.com"
    assert p1["created_at"] == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert p1["attributes"] == {"tier": "gold"}
    assert p2["email"] is None
    assert p2["attributes"] == {"n": 1.5, "tags": ["a", "b"], "nested": {"x": None}}


@pytest.mark.parametrize("suffix", [".jsonl", ".ndjson", ".JSONL"])
def test_json_lines(clean, cli, tmp_path, suffix):
    out = load_json(cli, "profiles", write_jsonl(tmp_path / f"people{suffix}", PROFILES))
    assert out["kind"] == "profiles" and out["rows"] == 2 and out["inserted"] == 2 and out["rejected"] == 0
    _check_profiles(clean)


def test_csv_with_json_encoded_attributes(clean, cli, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(
        "external_id,email,created_at,attributes\n"
        'p1,p1@example.com,2024-01-02T03:04:05Z,"{""tier"": ""gold""}"\n'
        'p2,,,"{""n"": 1.5, ""tags"": [""a"", ""b""], ""nested"": {""x"": null}}"\n',
        encoding="utf-8",
    )
    out = load_json(cli, "profiles", path)
    assert out["rows"] == 2 and out["inserted"] == 2
    _check_profiles(clean)


def test_csv_with_bom_crlf_and_quoted_newline(clean, cli, tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(b'\xef\xbb\xbfexternal_id,attributes\r\np1,"{""note"":\r\n""two\\nlines""}"\r\np2,\r\n')
    out = load_json(cli, "profiles", path)
    assert out["rows"] == 2
    assert profile(clean, "p1")["attributes"] == {"note": "two\nlines"}
    assert profile(clean, "p2")["attributes"] == {}


def test_parquet_with_struct_and_text_attributes(clean, cli, tmp_path):
    table = pa.table(
        {
            "external_id": ["p1", "p2"],
            "email": ["p1@example.com", None],
            "created_at": pa.array([datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), None], pa.timestamp("us", tz="UTC")),
            "attributes": ['{"tier": "gold"}', '{"n": 1.5, "tags": ["a", "b"], "nested": {"x": null}}'],
        }
    )
    pq.write_table(table, tmp_path / "people.parquet")
    out = load_json(cli, "profiles", tmp_path / "people.parquet")
    assert out["rows"] == 2 and out["inserted"] == 2
    _check_profiles(clean)


def test_parquet_binary_columns_are_utf8_text(clean, cli, tmp_path):
    table = pa.table(
        {
            "external_id": pa.array([b"p1", "ü2".encode()], pa.binary()),
            "email": pa.array([b"p1@example.com", None], pa.large_binary()),
            "attributes": pa.array([b'{"tier": "gold"}', b"{}"], pa.binary()),
        }
    )
    pq.write_table(table, tmp_path / "people.parquet")
    assert load_json(cli, "profiles", tmp_path / "people.parquet")["inserted"] == 2
    assert profile(clean, "p1")["attributes"] == {"tier": "gold"} and profile(clean, "ü2")["email"] is None


def test_parquet_struct_properties_and_integer_ids(clean, cli, tmp_path):
    table = pa.table(
        {
            "external_id": pa.array([7, 8], pa.int64()),
            "event": ["purchase", "purchase"],
            "occurred_at": pa.array([datetime(2024, 5, 1, 10), datetime(2024, 5, 2, 10)], pa.timestamp("ms")),
            "properties": [{"amount": 10, "sku": "a"}, {"amount": 20, "sku": "b"}],
            "event_id": ["e1", "e2"],
        }
    )
    pq.write_table(table, tmp_path / "events.parquet")
    out = load_json(cli, "events", tmp_path / "events.parquet")
    assert out["inserted"] == 2 and out["profiles_created"] == 2
    found = rows(
        clean,
        "SELECT p.external_id, e.occurred_at, e.properties FROM segpipe.events e"
        " JOIN segpipe.profiles p ON p.id = e.profile_id ORDER BY e.occurred_at",
    )
    assert found == [
        ("7", datetime(2024, 5, 1, 10, tzinfo=UTC), {"amount": 10, "sku": "a"}),
        ("8", datetime(2024, 5, 2, 10, tzinfo=UTC), {"amount": 20, "sku": "b"}),
    ]


def test_stdin_is_json_lines(clean, cli):
    text = "\n".join(json.dumps(r) for r in PROFILES) + "\n"
    out = load_json(cli, "profiles", "-", input=text)
    assert out["file"] == "<stdin>" and out["inserted"] == 2
    _check_profiles(clean)


def test_every_kind_from_csv(clean, cli, tmp_path):
    (tmp_path / "events.csv").write_text(
        "external_id,event,occurred_at,properties,event_id\nu1,login,2024-05-01T10:00:00+02:00,,\n", encoding="utf-8"
    )
    (tmp_path / "subs.csv").write_text(
        "external_id,channel,status,updated_at\nu1,email,unsubscribed,2024-05-01T10:00:00Z\n", encoding="utf-8"
    )
    (tmp_path / "activity.csv").write_text(
        "external_id,campaign,kind,occurred_at\nu1,spring,open,2024-05-01 10:00:00\n", encoding="utf-8"
    )
    assert load_json(cli, "events", tmp_path / "events.csv")["inserted"] == 1
    assert load_json(cli, "subscriptions", tmp_path / "subs.csv")["inserted"] == 1
    assert load_json(cli, "activity", tmp_path / "activity.csv")["inserted"] == 1
    assert rows(clean, "SELECT name, occurred_at, properties, event_id FROM segpipe.events") == [
        ("login", datetime(2024, 5, 1, 8, tzinfo=UTC), {}, None)
    ]
    assert rows(clean, "SELECT channel, status FROM segpipe.subscriptions") == [("email", "unsubscribed")]
    assert rows(clean, "SELECT campaign, kind, occurred_at FROM segpipe.activity") == [
        ("spring", "open", datetime(2024, 5, 1, 10, tzinfo=UTC))
    ]


def test_unknown_fields_are_ignored_and_reported(clean, cli, tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [{"external_id": "p1", "country": "DE", "Email": "x"}])
    out = load_json(cli, "profiles", path)
    assert out["ignored_fields"] == ["Email", "country"]
    assert profile(clean, "p1")["attributes"] == {}


def test_blank_lines_are_skipped_but_counted(clean, cli, tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"external_id": "p1"}\n\n   \n{"external_id": ""}\n', encoding="utf-8")
    result = cli("load", "profiles", str(path))
    assert result.exit_code == 2
    assert f"{path}:4: empty external_id" in result.stderr


def test_empty_file_loads_nothing(clean, cli, tmp_path):
    for name in ("empty.jsonl", "empty.csv"):
        (tmp_path / name).write_text("", encoding="utf-8")
        out = load_json(cli, "profiles", tmp_path / name)
        assert out["rows"] == 0 and out["inserted"] == 0


def test_human_output(clean, cli, tmp_path):
    result = cli("load", "profiles", str(write_jsonl(tmp_path / "p.jsonl", PROFILES)))
    assert result.exit_code == 0
    assert "Loaded 2 profiles row(s)" in result.stdout and "2 new, 0 updated, 0 already known" in result.stdout
