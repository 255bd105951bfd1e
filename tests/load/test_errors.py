# ruff: noqa: E501  (table-driven cases read best one per line)
"""Invalid input: every error aborts with `file:row: reason` and exit 2, and writes nothing; --skip-invalid."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.load.helpers import counts, data_version, load_json, profile, write_jsonl

GOOD = {"external_id": "ok", "event": "login", "occurred_at": "2024-05-01T10:00:00Z"}
GOOD_BY_KIND = {
    "profiles": {"external_id": "fine"},
    "events": GOOD,
    "subscriptions": {"external_id": "fine", "channel": "sms", "status": "subscribed", "updated_at": "2024-01-01"},
    "activity": {"external_id": "fine", "campaign": "c", "kind": "open", "occurred_at": "2024-01-01"},
}


@pytest.fixture()
def seeded(clean, cli, tmp_path):
    """Some data already loaded, so that "nothing written" is checked against a non-empty state."""
    load_json(cli, "profiles", write_jsonl(tmp_path / "seed.jsonl", [{"external_id": "seed", "attributes": {"a": 1}}]))
    load_json(cli, "events", write_jsonl(tmp_path / "seed-events.jsonl", [{**GOOD, "event_id": "seed-1"}]))
    return clean


def _fails(cli, engine, kind, path, where, reason):
    before, version = counts(engine), data_version(engine)
    result = cli("load", kind, str(path))
    assert result.exit_code == 2, result.output
    assert result.stderr == f"error: {where}: {reason}\n"
    assert counts(engine) == before and data_version(engine) == version
    return result


JSONL_CASES = [
    ("profiles", {"email": "x@example.com"}, "missing required field 'external_id'"),
    ("profiles", {"external_id": None}, "missing required field 'external_id' (null)"),
    ("profiles", {"external_id": "  "}, "empty external_id"),
    ("profiles", {"external_id": True}, "external_id must be a string, got boolean"),
    ("profiles", {"external_id": 1.5}, "external_id must be a string, got number"),
    ("profiles", {"external_id": "a", "email": 5}, "email must be a string, got number"),
    ("profiles", {"external_id": "a", "created_at": "yesterday"}, "bad created_at: not an ISO-8601 date-time: 'yesterday'"),
    ("profiles", {"external_id": "a", "created_at": "2024-02-30T00:00:00Z"}, "bad created_at: not a valid date-time: '2024-02-30T00:00:00Z'"),
    ("profiles", {"external_id": "a", "created_at": 1714557600}, "bad created_at: expected an ISO-8601 date-time string, got number"),
    ("profiles", {"external_id": "a", "attributes": [1, 2]}, "attributes must be a JSON object, got array"),
    ("profiles", {"external_id": "a", "attributes": '{"x": 1}'}, "attributes must be a JSON object, got string"),
    ("profiles", {"external_id": "a\u0000b"}, "external_id contains a NUL character"),
    ("profiles", {"external_id": "a", "attributes": {"k": "a\u0000"}}, "attributes contains a NUL character (\\u0000), which Postgres jsonb cannot store"),
    ("events", {**GOOD, "event": ""}, "empty event"),
    ("events", {**GOOD, "event": 3}, "event must be a string, got number"),
    ("events", {k: v for k, v in GOOD.items() if k != "occurred_at"}, "missing required field 'occurred_at'"),
    ("events", {**GOOD, "occurred_at": "2024-05-01T25:00:00Z"}, "bad occurred_at: not a valid date-time: '2024-05-01T25:00:00Z'"),
    ("events", {**GOOD, "properties": "nope"}, "properties must be a JSON object, got string"),
    ("events", {**GOOD, "event_id": {"a": 1}}, "event_id must be a string, got object"),
    ("subscriptions", {"external_id": "a", "channel": "fax", "status": "subscribed", "updated_at": "2024-01-01"}, "unknown channel 'fax': expected one of email, sms, push"),
    ("subscriptions", {"external_id": "a", "channel": "Email", "status": "subscribed", "updated_at": "2024-01-01"}, "unknown channel 'Email': expected one of email, sms, push"),
    ("subscriptions", {"external_id": "a", "channel": "sms", "status": "opted-in", "updated_at": "2024-01-01"}, "unknown status 'opted-in': expected one of subscribed, unsubscribed"),
    ("subscriptions", {"external_id": "a", "channel": "sms", "status": "subscribed"}, "missing required field 'updated_at'"),
    ("activity", {"external_id": "a", "campaign": "c", "kind": "opened", "occurred_at": "2024-01-01"}, "unknown kind 'opened': expected one of sent, delivered, open, click, bounce, unsubscribe"),
    ("activity", {"external_id": "a", "campaign": "", "kind": "open", "occurred_at": "2024-01-01"}, "empty campaign"),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "record", "reason"), JSONL_CASES)
def test_invalid_jsonl_row_aborts_the_load(seeded, cli, tmp_path, kind, record, reason):
    good = GOOD_BY_KIND[kind]
    path = write_jsonl(tmp_path / "in.jsonl", [good, good, record, good])
    _fails(cli, seeded, kind, path, f"{path}:3", reason)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"external_id": "a",}', "malformed JSON: trailing comma is not allowed at column 20"),
        ('{"external_id": "a", "attributes": {"x": NaN}}', "malformed JSON: unexpected character, expected a JSON value at column 42"),
        ('["external_id", "a"]', "not a JSON object (got array)"),
        ('"a"', "not a JSON object (got string)"),
        ('{"external_id": "\\ud800"}', "malformed JSON: no low surrogate in string at column 18"),
    ],
)  # fmt: skip
def test_malformed_json_lines(seeded, cli, tmp_path, line, reason):
    path = write_jsonl(tmp_path / "in.jsonl", [{"external_id": "x"}, line])
    _fails(cli, seeded, "profiles", path, f"{path}:2", reason)


def test_invalid_utf8_line(seeded, cli, tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"external_id": "x"}\n{"external_id": "caf\xe9"}\n')
    result = cli("load", "profiles", str(path))
    assert result.exit_code == 2 and result.stderr.startswith(f"error: {path}:2: malformed JSON: ")


def test_big_integers_stay_exact(seeded, cli, tmp_path):
    record = {"external_id": 12345678901234567890123, "attributes": {"big": 123456789012345678901234567890}}
    load_json(cli, "profiles", write_jsonl(tmp_path / "in.jsonl", [record]))
    assert profile(seeded, "12345678901234567890123")["attributes"] == {"big": 123456789012345678901234567890}


@pytest.mark.parametrize(
    ("text", "row", "reason"),
    [
        ("external_id,email\na,x@y\nb\n", 2, "expected 2 fields (as in the header), got 1"),
        ("external_id,email\na,x@y,extra\n", 1, "expected 2 fields (as in the header), got 3"),
        ("email\nx@y\n", 1, "missing required field 'external_id'"),
        ("external_id,attributes\na,{not json}\n", 1, "attributes is not valid JSON: unexpected character, expected a string key at column 2"),
        ('external_id,attributes\na,"[1]"\n', 1, "attributes must be a JSON object, got array"),
        ("external_id,created_at\na,2024-01-01\nb,01/02/2024\n", 2, "bad created_at: not an ISO-8601 date-time: '01/02/2024'"),
        ("external_id\n\"\"\n", 1, "empty external_id"),
    ],
)  # fmt: skip
def test_invalid_csv_rows(seeded, cli, tmp_path, text, row, reason):
    path = tmp_path / "in.csv"
    path.write_text(text, encoding="utf-8")
    _fails(cli, seeded, "profiles", path, f"{path}:{row}", reason)


def test_csv_duplicate_header(seeded, cli, tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("external_id,email,email\na,b,c\n", encoding="utf-8")
    _fails(cli, seeded, "profiles", path, str(path), "header: duplicate column 'email'")


def test_parquet_row_numbers(seeded, cli, tmp_path):
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"external_id": ["a", "b", None]}), path)
    _fails(cli, seeded, "profiles", path, f"{path}:3", "missing required field 'external_id' (null)")


def test_parquet_value_python_cannot_hold_is_reported_at_its_row(seeded, cli, tmp_path):
    path = tmp_path / "in.parquet"
    millis = [1_700_000_000_000] * 9_000 + [300_000_000_000_000]  # the last: year ~11,476
    table = pa.table(
        {
            "external_id": [f"e{i}" for i in range(len(millis))],
            "event": ["view"] * len(millis),
            "occurred_at": pa.array(millis, pa.timestamp("ms", tz="UTC")),
        }
    )
    pq.write_table(table, path)
    before, version = counts(seeded), data_version(seeded)
    result = cli("load", "events", str(path))
    assert result.exit_code == 2 and result.stderr.startswith(f"error: {path}:9001: cannot read Parquet data: ")
    assert counts(seeded) == before and data_version(seeded) == version


def test_not_a_parquet_file(seeded, cli, tmp_path):
    path = tmp_path / "in.parquet"
    path.write_text("external_id\na\n", encoding="utf-8")
    result = cli("load", "profiles", str(path))
    assert result.exit_code == 2 and result.stderr.startswith(f"error: {path}: not a readable Parquet file")
    assert result.stderr.count("\n") == 1


def test_file_errors_are_one_line_exit_2(seeded, cli, tmp_path):
    (tmp_path / "x.txt").write_text("hi", encoding="utf-8")
    cases = [
        (("profiles", str(tmp_path / "missing.jsonl")), f"error: {tmp_path / 'missing.jsonl'}: no such file\n"),
        (("profiles", str(tmp_path)), f"error: {tmp_path}: is a directory, not a file\n"),
        (
            ("profiles", str(tmp_path / "x.txt")),
            f"error: {tmp_path / 'x.txt'}: unsupported file type '.txt': use .csv, .jsonl, .ndjson or .parquet "
            "(or - for JSON Lines on stdin)\n",
        ),
        (("people", str(tmp_path / "x.txt")), "error: unknown kind 'people': use one of profiles, events, subscriptions, activity\n"),
    ]  # fmt: skip
    for args, message in cases:
        result = cli("load", *args)
        assert result.exit_code == 2 and result.stderr == message


def test_json_error_output(seeded, cli, tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", [{"external_id": ""}])
    result = cli("load", "profiles", str(path), "--json")
    assert result.exit_code == 2
    assert json.loads(result.stdout) == {"error": f"{path}:1: empty external_id", "exit_code": 2}


def test_a_late_invalid_row_leaves_nothing_behind(seeded, cli, tmp_path):
    records = [{**GOOD, "external_id": f"new-{i}", "event_id": f"id-{i}"} for i in range(3000)]
    path = write_jsonl(tmp_path / "in.jsonl", [*records, {**GOOD, "occurred_at": "soon"}])
    _fails(cli, seeded, "events", path, f"{path}:3001", "bad occurred_at: not an ISO-8601 date-time: 'soon'")


def test_skip_invalid_writes_valid_rows_and_rejects(seeded, cli, tmp_path):
    path = write_jsonl(
        tmp_path / "in.jsonl",
        [{"external_id": "v1"}, {"external_id": ""}, "{oops", {"external_id": "v2", "attributes": [1]}, {"external_id": "v3"}],
    )  # fmt: skip
    out = load_json(cli, "profiles", path, "--skip-invalid")
    rejects = tmp_path / "in.jsonl.rejects.jsonl"
    assert out["rows"] == 5 and out["inserted"] == 2 and out["rejected"] == 3
    assert out["rejects_file"] == str(rejects)
    assert [profile(seeded, x) is not None for x in ("v1", "v2", "v3")] == [True, False, True]
    lines = [json.loads(line) for line in rejects.read_text(encoding="utf-8").splitlines()]
    assert lines == [
        {"row": 2, "reason": "empty external_id", "record": {"external_id": ""}},
        {"row": 3, "reason": "malformed JSON: unexpected character, expected a string key at column 2", "record": "{oops"},
        {"row": 4, "reason": "attributes must be a JSON object, got array", "record": {"external_id": "v2", "attributes": [1]}},
    ]  # fmt: skip


def test_skip_invalid_human_output_names_the_reject_file(seeded, cli, tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("external_id,channel,status,updated_at\na,email,maybe,2024-01-01\n", encoding="utf-8")
    result = cli("load", "subscriptions", str(path), "--skip-invalid")
    assert result.exit_code == 2  # rows were rejected: invalid input, though the valid rows are written
    assert f"1 row(s) rejected, written to {path}.rejects.jsonl" in result.stdout
    (entry,) = [json.loads(x) for x in (tmp_path / "in.csv.rejects.jsonl").read_text().splitlines()]
    assert entry["record"] == {"external_id": "a", "channel": "email", "status": "maybe", "updated_at": "2024-01-01"}


def test_skip_invalid_rewrites_the_reject_file(seeded, cli, tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", [{"external_id": ""}])
    assert load_json(cli, "profiles", path, "--skip-invalid")["rejected"] == 1
    write_jsonl(path, [{"external_id": "fine"}])
    assert load_json(cli, "profiles", path, "--skip-invalid")["rejected"] == 0
    assert (tmp_path / "in.jsonl.rejects.jsonl").read_text() == ""


def test_skip_invalid_from_stdin_and_custom_path(seeded, cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = load_json(cli, "profiles", "-", "--skip-invalid", input='{"external_id": "s1"}\nnope\n')
    assert out["rejects_file"] == "stdin.rejects.jsonl" and (tmp_path / "stdin.rejects.jsonl").exists()
    custom = tmp_path / "bad.jsonl"
    out = load_json(cli, "profiles", "-", "--skip-invalid", "--rejects", str(custom), input="nope\n")
    assert out["rejects_file"] == str(custom) and custom.read_text().count("\n") == 1


def test_skip_invalid_does_not_skip_file_errors(seeded, cli, tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("external_id,email,email\n", encoding="utf-8")
    result = cli("load", "profiles", str(path), "--skip-invalid")
    assert result.exit_code == 2
    assert not (tmp_path / "in.csv.rejects.jsonl").exists()
